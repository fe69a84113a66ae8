import { randomBytes } from 'node:crypto';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext, createSecureContext } from 'node:tls';
import pg from 'pg';
import { BackendRefusedError, loginToBackend } from './backend-login.js';
import { decodeJwtPayload } from '../sources/entra-token-claims.js';
import { AZURE_LOGIN_ERRORS, AZURE_POSTGRES_AUDIENCE } from './azure-login-errors.js';
import { LocalTokenAuthority, type LocalTokenAuthorityOptions } from './local-token-authority.js';
import type { LocalLoginRegistry, TokenGrant } from './login-registry.js';
import {
  CANCEL_REQUEST,
  GSSENC_REQUEST,
  MAX_CANCEL_KEY,
  SSL_REQUEST,
  WireError,
  WireReader,
  errorResponse,
  int32,
  message,
  parseStartupParameters,
} from './pg-wire.js';
import { createSelfSignedCertificate } from './self-signed-certificate.js';

export interface LocalEntraLoginOptions {
  /** A superuser (or CREATEROLE) connection to the real server; sessions are relayed to its host and port. */
  admin: pg.PoolConfig;
  /**
   * Answer SSLRequest with TLS, on a self-signed certificate for `localhost` and 127.0.0.1 made at
   * start with the `openssl` binary (`certificate` is the CA to trust). Default false: plaintext,
   * as the front listens on loopback only.
   */
  tls?: boolean;
  /** A client that has not finished logging in after this long is cut off. Default 10 s. */
  handshakeTimeoutMs?: number;
  /**
   * Checks a password that is not a registered token: for tokens the front cannot know in advance,
   * such as an AWS RDS IAM token signed by the client's own credentials. Resolve to what it is good
   * for (the user and expiry are checked as for a registered token), or undefined to refuse it.
   */
  verify?: (password: string, user: string) => Promise<TokenGrant | undefined>;
  /**
   * Refuse plaintext logins as Azure does (require_secure_transport), with PostgreSQL's pg_hba
   * text ending in "no encryption". Default false.
   */
  requireTls?: boolean;
  /**
   * The server's tenant: a token whose `tid` differs is refused with the generic text, as a server
   * refuses identities of another tenant. Default: any tenant.
   */
  tenantId?: string;
}

/** How a role is mapped to Entra on Azure (pgaadauth_create_principal's isAdmin/isMfa aside): as a user or as a service. */
export type EntraRoleMapping = 'user' | 'service';

/** One client's login: its socket (the TLS one once negotiated), what it has sent, and the server side once opened. */
interface Channel {
  client: Duplex;
  reader: WireReader;
  backend: Socket | undefined;
}

// An Entra token is a few kB; anything near this is not a token.
const MAX_PASSWORD_MESSAGE = 64 * 1024;
const MAX_HANDSHAKE_BUFFER = 128 * 1024;
/** Expired grants are kept this long so a late login hears "expired" rather than "unknown". */
const EXPIRED_GRANT_KEPT_MS = 60_000;
const MAX_GRANTS = 100_000;
const CLOSE_BOUND_MS = 5_000;
/** How long a socket we have ended may take to close before it is destroyed. */
const LINGER_MS = 1_000;

/**
 * A loopback PostgreSQL front that logs clients in the way Azure Database for PostgreSQL does
 * for Entra roles, then relays them to a real (embedded) server. It asks for a cleartext
 * password, accepts any token registered with it that is unexpired, not revoked and issued for
 * the requested user, and refuses others with FATAL 28P01. An accepted client is logged in to
 * the real server under the role's internal password (set once by the front with ALTER ROLE and
 * never shown to clients) and bytes are relayed both ways. Tokens are checked only at login, so
 * sessions outlive them, and any number of unexpired tokens work at once, as on Azure.
 *
 * Unlike `LocalTokenAuthority` on its own (one rotating role password, read when a login's
 * handshake begins), tokens minted from inside pg's `password` callback work for the very login
 * that asked for them. A role served by the front must not also be used by an authority in
 * ALTER ROLE mode: each would overwrite the other's password.
 *
 * Cancel requests are relayed to the server when they name a session of this front.
 */
export class LocalEntraLogin implements LocalLoginRegistry {
  readonly host = '127.0.0.1';
  /** The name in the certificate, for a client's `servername`. */
  readonly servername = 'localhost';
  /** Clients logged in and relayed. */
  logins = 0;
  /** Logins refused by the token check (28P01). */
  refusals = 0;
  /**
   * Whether Microsoft Entra authentication is on; off, every token is refused with PostgreSQL's
   * generic text, as a server with PostgreSQL-only authentication does.
   */
  entraAuthentication = true;
  private readonly mappings = new Map<string, EntraRoleMapping>();
  private portNumber = 0;
  private cert: string | undefined;
  private secureContext: SecureContext | undefined;
  private server: Server | undefined;
  private readonly admin: pg.Pool;
  private readonly backend: { host: string; port: number };
  private readonly handshakeTimeoutMs: number;
  private readonly grants = new Map<string, TokenGrant & { revoked: boolean }>();
  private readonly roles = new Map<string, Promise<string>>();
  private readonly saltedKeys = new Map<string, Buffer>();
  private readonly sockets = new Set<Duplex>();
  private readonly relays = new Set<{ client: Duplex; backend: Socket }>();
  private readonly cancelKeys = new Map<number, Buffer>();
  private lastPrune = 0;
  private closed = false;

  private constructor(private readonly options: LocalEntraLoginOptions) {
    this.admin = new pg.Pool({ ...options.admin, max: 1, allowExitOnIdle: true });
    this.admin.on('error', () => undefined);
    this.backend = { host: options.admin.host ?? '127.0.0.1', port: options.admin.port ?? 5432 };
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
  }

  static async start(options: LocalEntraLoginOptions): Promise<LocalEntraLogin> {
    const front = new LocalEntraLogin(options);
    await front.listen();
    return front;
  }

  get port(): number {
    return this.portNumber;
  }

  /** The self-signed certificate (PEM) to pass as `ssl.ca`, when started with `tls`. */
  get certificate(): string | undefined {
    return this.cert;
  }

  /** Sessions being relayed now. */
  get sessions(): number {
    return this.relays.size;
  }

  /** A LocalTokenAuthority whose tokens are registered with this front instead of set as the role's password. */
  authority(options: Omit<LocalTokenAuthorityOptions, 'admin' | 'login'>): LocalTokenAuthority {
    return new LocalTokenAuthority({ ...options, admin: this.options.admin, login: this });
  }

  async register(token: string, grant: TokenGrant): Promise<void> {
    if (this.closed) throw new Error('LocalEntraLogin: closed');
    await this.internalPassword(grant.user);
    this.prune();
    this.grants.set(token, { ...grant, revoked: false });
  }

  /**
   * Records how `role` is mapped to Entra. A role mapped as a user refuses tokens of a service
   * principal or managed identity (idtyp app) with Azure's own text; unmapped roles are not checked.
   */
  mapRole(role: string, mapping: EntraRoleMapping): void {
    this.mappings.set(role, mapping);
  }

  /** Refuses a token for new logins from now on; sessions it opened live on. */
  async revoke(token: string): Promise<void> {
    const grant = this.grants.get(token);
    if (grant) grant.revoked = true;
  }

  async revokeIssuedBy(issuer: string): Promise<void> {
    for (const grant of this.grants.values()) if (grant.issuer === issuer) grant.revoked = true;
  }

  /** Closes the listener and every client and server socket; pending logins fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.relays.clear();
    this.cancelKeys.clear();
    this.grants.clear();
    const bounded = (work: Promise<unknown>) =>
      Promise.race([work, new Promise((resolve) => setTimeout(resolve, CLOSE_BOUND_MS).unref())]);
    await bounded(Promise.all([
      server ? new Promise<void>((resolve) => server.close(() => resolve())) : undefined,
      Promise.allSettled([...this.roles.values()]),
    ]));
    await bounded(this.admin.end().catch(() => undefined));
  }

  private async listen(): Promise<void> {
    if (this.options.tls) {
      const { cert, key } = await createSelfSignedCertificate();
      this.cert = cert;
      this.secureContext = createSecureContext({ cert, key });
    }
    const server = createServer((socket) => void this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.host, () => resolve());
    });
    server.unref();
    this.server = server;
    this.portNumber = (server.address() as AddressInfo).port;
  }

  /** The role's password on the real server: set once, random, known only to the front. */
  private internalPassword(role: string): Promise<string> {
    let password = this.roles.get(role);
    if (!password) {
      const secret = randomBytes(24).toString('base64url');
      password = this.admin
        .query(`ALTER ROLE ${pg.escapeIdentifier(role)} WITH LOGIN PASSWORD ${pg.escapeLiteral(secret)} VALID UNTIL 'infinity'`)
        .then(() => secret);
      // A failed ALTER ROLE (say, the role does not exist yet) is tried again by the next register().
      password.catch(() => this.roles.delete(role));
      this.roles.set(role, password);
    }
    return password;
  }

  private prune(): void {
    // At most once a second, so a burst of registrations does not scan the map each time.
    const now = Date.now();
    if (now - this.lastPrune >= 1_000) {
      this.lastPrune = now;
      const cutoff = now - EXPIRED_GRANT_KEPT_MS;
      for (const [token, grant] of this.grants) if (grant.expiresOnTimestamp < cutoff) this.grants.delete(token);
    }
    // Oldest first: a test minting without end cannot grow the map without bound.
    for (const token of this.grants.keys()) {
      if (this.grants.size < MAX_GRANTS) break;
      this.grants.delete(token);
    }
  }

  private track<T extends Duplex>(socket: T): T {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
    if (this.closed) socket.destroy();
    return socket;
  }

  /** Ends a socket (after `last`, if given) and destroys it if the peer has not closed it soon after. */
  private endSoon(socket: Duplex, last?: Buffer): void {
    if (socket.destroyed) return;
    socket.end(last);
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  private async serve(raw: Socket): Promise<void> {
    this.track(raw);
    raw.setNoDelay(true);
    const channel: Channel = { client: raw, reader: new WireReader(raw, MAX_HANDSHAKE_BUFFER), backend: undefined };
    const timer = setTimeout(() => {
      this.endSoon(channel.client, errorResponse('FATAL', '08P01', 'canceling authentication due to timeout'));
      channel.backend?.destroy();
    }, this.handshakeTimeoutMs);
    try {
      await this.handshake(raw, channel, timer);
    } catch (error) {
      channel.reader.detach();
      const response =
        error instanceof BackendRefusedError
          ? error.response
          : error instanceof WireError
            ? errorResponse('FATAL', error.code, error.message)
            : errorResponse('FATAL', '08006', `the local Entra login front could not relay the login: ${(error as Error).message}`);
      this.endSoon(channel.client, response);
      channel.backend?.destroy();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Startup, the token check as Azure does it, then the login to the real server and the relay. */
  private async handshake(raw: Socket, channel: Channel, timer: NodeJS.Timeout): Promise<void> {
    const packet = await this.negotiate(raw, channel);
    const { client, reader } = channel;
    const code = packet.readInt32BE(0);
    if (code === CANCEL_REQUEST) {
      if (packet.length >= 12 && packet.length <= 8 + MAX_CANCEL_KEY) this.relayCancel(packet);
      this.endSoon(client);
      return;
    }
    if (code >>> 16 !== 3) throw new WireError('0A000', `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: the front speaks 3.x`);
    const parameters = parseStartupParameters(packet);
    const user = parameters.get('user');
    if (!user) throw new WireError('28000', 'no PostgreSQL user name specified in startup packet');
    if (!parameters.has('database')) parameters.set('database', user);
    if (this.options.requireTls && client === raw) {
      throw new WireError('28000', AZURE_LOGIN_ERRORS.noEncryption(raw.remoteAddress?.replace(/^::ffff:/, '') ?? this.host, user, parameters.get('database')!));
    }

    client.write(message('R', int32(3)));
    const reply = await reader.message(MAX_PASSWORD_MESSAGE);
    if (reply.type !== 'p') throw new WireError('08P01', `expected password response, got message type ${JSON.stringify(reply.type)}`);
    const token = reply.body.subarray(0, Math.max(0, reply.body.indexOf(0))).toString('utf8');
    const refusal = await this.check(token, user);
    if (refusal) {
      this.refusals += 1;
      this.endSoon(client, errorResponse('FATAL', '28P01', refusal));
      return;
    }

    const password = await this.internalPassword(user);
    const backend = this.track(connect({ host: this.backend.host, port: this.backend.port }));
    channel.backend = backend;
    backend.setNoDelay(true);
    const session = await loginToBackend(backend, code, parameters, password, this.saltedKeys);
    clearTimeout(timer);
    const clientGone = reader.failed;
    const early = reader.detach();
    // The client left while the server was logging it in: nothing to relay to.
    if (clientGone || client.destroyed) {
      this.endSoon(backend);
      return;
    }
    this.logins += 1;
    this.relay(client, backend, session.key?.processId, session.key?.secret);
    client.write(session.greeting);
    if (session.rest.length) client.write(session.rest);
    if (early.length) backend.write(early);
  }

  /**
   * Reads the startup packet, answering the SSLRequest and GSSENCRequest that may come first (one
   * of each, as PostgreSQL allows); with TLS on, `channel` moves to the TLS socket.
   */
  private async negotiate(raw: Socket, channel: Channel): Promise<Buffer> {
    let packet = await channel.reader.startupPacket();
    for (let negotiations = 0; negotiations < 2; negotiations += 1) {
      const code = packet.readInt32BE(0);
      if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) break;
      if (packet.length !== 4) throw new WireError('08P01', 'invalid length of startup packet');
      // Bytes sent before the answer would bypass encryption (CVE-2021-23214): refuse them.
      if (channel.reader.buffered > 0) throw new WireError('08P01', 'received unencrypted data after SSL request');
      if (code === SSL_REQUEST && this.secureContext && channel.client === raw) {
        raw.write('S');
        channel.reader.detach();
        channel.client = this.track(new TLSSocket(raw, { isServer: true, secureContext: this.secureContext }));
        channel.reader = new WireReader(channel.client, MAX_HANDSHAKE_BUFFER);
      } else {
        channel.client.write('N');
      }
      packet = await channel.reader.startupPacket();
    }
    return packet;
  }

  /** Why a token may not log in as `user`, in Azure's words; undefined when it may. */
  private async check(token: string, user: string): Promise<string | undefined> {
    const grant = this.grants.get(token) ?? (await this.verified(token, user));
    const refused = AZURE_LOGIN_ERRORS.passwordFailed(user);
    if (!this.entraAuthentication) return refused;
    // Entra validates the token before the role: a token for another resource is refused as such.
    const claims = decodeJwtPayload(token);
    if (claims && typeof claims.aud === 'string' && claims.aud.replace(/\/+$/, '') !== AZURE_POSTGRES_AUDIENCE) return AZURE_LOGIN_ERRORS.wrongAudience();
    const tenant = this.options.tenantId;
    if (tenant !== undefined && claims?.tid !== undefined && claims.tid !== tenant) return refused;
    if (grant && !grant.revoked && this.mappings.get(user) === 'user' && claims?.idtyp === 'app') return AZURE_LOGIN_ERRORS.servicePrincipalAsUser(user);
    if (!grant || grant.revoked || grant.user !== user) return refused;
    if (Date.now() >= grant.expiresOnTimestamp) return 'The access token has expired. Please acquire a new token and retry.';
    return undefined;
  }

  /** The `verify` option's answer for an unregistered password; a verifier that throws refuses it. */
  private async verified(token: string, user: string): Promise<(TokenGrant & { revoked: boolean }) | undefined> {
    if (!this.options.verify) return undefined;
    try {
      const grant = await this.options.verify(token, user);
      return grant && { ...grant, revoked: false };
    } catch {
      return undefined;
    }
  }

  private relay(client: Duplex, backend: Socket, processId: number | undefined, secret: Buffer | undefined): void {
    const relay = { client, backend };
    this.relays.add(relay);
    if (processId !== undefined && secret) this.cancelKeys.set(processId, secret);
    let open = 2;
    const closed = () => {
      open -= 1;
      if (open > 0) return;
      this.relays.delete(relay);
      if (processId !== undefined) this.cancelKeys.delete(processId);
    };
    // A half-closed side ends the other; an error on either side ends both.
    for (const [from, to] of [[client, backend], [backend, client]] as const) {
      from.pipe(to);
      from.once('close', () => {
        // A peer that ignores the end must not keep the relay alive.
        this.endSoon(to);
        closed();
      });
      from.once('error', () => {
        from.destroy();
        to.destroy();
      });
    }
  }

  private relayCancel(packet: Buffer): void {
    const processId = packet.readInt32BE(4);
    const secret = this.cancelKeys.get(processId);
    // Only a cancel for one of our sessions, with its key, is worth a connection to the server.
    if (!secret || !secret.equals(packet.subarray(8))) return;
    const socket = this.track(connect({ host: this.backend.host, port: this.backend.port }));
    socket.setTimeout(5_000, () => socket.destroy());
    socket.end(Buffer.concat([int32(packet.length + 4), packet]));
  }
}
