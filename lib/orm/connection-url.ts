import { EntraPgConfigError } from '../entra-pg.errors.js';
import type { EntraPgConnection } from '../connection/entra-pg.connection.js';

export interface ConnectionUrlOptions {
  /**
   * The URL's `sslmode`. Default: `verify-full` when the connection uses TLS, `disable` when it
   * does not. Tools differ in what they accept (Prisma's migration engine takes `require`).
   */
  sslmode?: string;
}

/**
 * A `postgresql://` URL for one connection with its current password (a fresh token when the
 * cached one is not valid), for tools that take a URL: `prisma migrate`, `drizzle-kit`, `psql`.
 * The URL holds a secret: hand it to the tool through its environment, never log it; it works
 * only until the token expires.
 */
export async function connectionUrl(connection: EntraPgConnection, options: ConnectionUrlOptions = {}): Promise<string> {
  const { host, port, database, user: configured, ssl } = connection.config;
  const secret = await connection.refresher.get();
  const user = configured ?? secret.user;
  if (!user) {
    throw new EntraPgConfigError(
      `No PostgreSQL user for connection "${connection.name}": the token names none; set the \`user\` option.`,
      connection.name,
    );
  }
  const url = new URL('postgresql://placeholder');
  url.hostname = host.includes(':') ? `[${host}]` : host;
  url.port = String(port);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(secret.password);
  url.pathname = `/${encodeURIComponent(database)}`;
  url.searchParams.set('sslmode', options.sslmode ?? (ssl === false ? 'disable' : 'verify-full'));
  return url.toString();
}
