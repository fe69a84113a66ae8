/** What a `postgresql://` URL may set; the password is never among them (the secret source owns it). */
export interface ConnectionStringParts {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  sslmode?: string;
  applicationName?: string;
  /** The startup `options` parameter (`-c search_path=app`). */
  options?: string;
  targetSessionAttrs?: string;
}

const URL_SHAPE = /^postgres(?:ql)?:\/\/(?:([^@/?#]*)@)?([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/i;

/**
 * Reads a libpq connection URL (`postgresql://user@host:5432/db?sslmode=verify-full`), as apps
 * carry it in DATABASE_URL. Query parameters this package does not use (Prisma's `schema`,
 * `connection_limit`, …) are left alone, as pg does. `fail` words an error without echoing the URL,
 * which may hold a password.
 */
export function parseConnectionString(url: string, fail: (message: string) => Error): ConnectionStringParts {
  // A raw password may hold '/', ',' or '@' (base64 secrets do): whatever stands before the last '@'
  // of the authority-and-path with a ':' in it is a password, refused before anything is parsed
  // that could echo a piece of it in a message or take it for a host or a database.
  const afterScheme = url.trim().replace(/^[a-z]+:\/\//i, '');
  const head = afterScheme.split(/[?#]/, 1)[0]!;
  const at = head.lastIndexOf('@');
  if (at !== -1 && head.slice(0, at).includes(':')) throw passwordInUrl(fail);
  const match = URL_SHAPE.exec(url.trim());
  if (!match) throw fail('connectionString must be a postgresql:// or postgres:// URL (host, port, database, user and sslmode; no password).');
  const [, userInfo, hostSpec, path, query] = match;
  const decode = (value: string, what: string) => {
    try {
      return decodeURIComponent(value);
    } catch {
      throw fail(`connectionString has a malformed ${what} (bad %-escape).`);
    }
  };
  const parts: ConnectionStringParts = {};
  if (userInfo !== undefined) {
    const colon = userInfo.indexOf(':');
    if (colon !== -1) throw passwordInUrl(fail);
    if (userInfo !== '') parts.user = decode(userInfo, 'user');
  }
  Object.assign(parts, hosts(hostSpec ?? '', fail));
  if (path) parts.database = decode(path, 'database');
  for (const pair of (query ?? '').split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const key = decode(equals === -1 ? pair : pair.slice(0, equals), 'parameter');
    const value = decode((equals === -1 ? '' : pair.slice(equals + 1)).replace(/\+/g, ' '), `${key} parameter`);
    if (key === 'password') throw fail('connectionString carries a password parameter: the secret source supplies it; remove it from the URL.');
    if (key === 'sslmode') parts.sslmode = value;
    else if (key === 'application_name') parts.applicationName = value;
    else if (key === 'options') parts.options = value;
    else if (key === 'target_session_attrs') parts.targetSessionAttrs = value;
    else if (key === 'user') parts.user = value;
    else if (key === 'dbname') parts.database = value;
    else if (key === 'host') Object.assign(parts, hosts(value, fail));
    else if (key === 'port') parts.port = port(value, fail);
  }
  return parts;
}

function passwordInUrl(fail: (message: string) => Error): Error {
  return fail(
    'connectionString carries a password: the secret source supplies it (a token or a rotated secret), so a fixed one ' +
      'would be wrong as soon as it rotates. Remove it from the URL (user@host, not user:password@host).',
  );
}

/** `host`, `host:port`, `[::1]:port`, or a comma-separated list of them (kept as given for the host list). */
function hosts(spec: string, fail: (message: string) => Error): Pick<ConnectionStringParts, 'host' | 'port'> {
  if (spec === '') return {};
  if (spec.includes(',')) return { host: decodeURIComponent(spec) };
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(spec);
  if (bracketed) return { host: bracketed[1], ...(bracketed[2] ? { port: port(bracketed[2], fail) } : {}) };
  const colon = spec.lastIndexOf(':');
  if (colon === -1) return { host: decodeURIComponent(spec) };
  const host = decodeURIComponent(spec.slice(0, colon));
  return { ...(host ? { host } : {}), ...(spec.length > colon + 1 ? { port: port(spec.slice(colon + 1), fail) } : {}) };
}

function port(value: string, fail: (message: string) => Error): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < 1 || parsed > 65535) throw fail('connectionString has a port that is not a number from 1 to 65535.');
  return parsed;
}
