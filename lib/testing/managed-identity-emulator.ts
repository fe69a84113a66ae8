import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nodeEnvKind } from '../common/node-env.js';
import type { EntraTokenCredential } from '../interfaces/token-credential.interface.js';

export interface ManagedIdentityEmulatorOptions {
  /** Where tokens come from, typically a LocalTokenAuthority. */
  authority: EntraTokenCredential;
  /** The secret clients must send as x-identity-header. Default: random. */
  identityHeader?: string;
  /** client_id reported in responses. */
  clientId?: string;
  /**
   * Start even when NODE_ENV is not development or test. Default false: a token endpoint that
   * hands out tokens to any local process has no place in production.
   */
  allowInProduction?: boolean;
  /** A client that has not sent a whole request after this long gets a 408. Default 10000. */
  requestTimeoutMs?: number;
}

/**
 * An HTTP server on 127.0.0.1 that speaks the App Service / Container Apps managed-identity
 * protocol (IDENTITY_ENDPOINT + IDENTITY_HEADER), so the real `ManagedIdentityCredential` of
 * `@azure/identity` runs end to end against a local PostgreSQL. Point the credential at it with
 * `emulator.env()`; nothing leaves the machine.
 */
export class ManagedIdentityEmulator {
  /** Requests answered with a token. */
  served = 0;
  /** Requests rejected (bad header, wrong resource, authority failure). */
  rejected = 0;
  readonly identityHeader: string;
  private server: Server | undefined;
  private url: string | undefined;

  constructor(private readonly options: ManagedIdentityEmulatorOptions) {
    this.identityHeader = options.identityHeader ?? randomUUID();
  }

  static async start(options: ManagedIdentityEmulatorOptions): Promise<ManagedIdentityEmulator> {
    if (nodeEnvKind(process.env.NODE_ENV) !== 'development' && options.allowInProduction !== true) {
      throw new Error(
        `ManagedIdentityEmulator refuses to start with NODE_ENV=${JSON.stringify(process.env.NODE_ENV)}: it is a test ` +
          'stand-in that gives tokens to any local process. Pass allowInProduction: true if you really mean it.',
      );
    }
    const emulator = new ManagedIdentityEmulator(options);
    await emulator.listen();
    return emulator;
  }

  /** The endpoint URL, for IDENTITY_ENDPOINT. */
  get endpoint(): string {
    if (!this.url) throw new Error('ManagedIdentityEmulator is not listening; call start() first');
    return this.url;
  }

  /** Environment variables that select this endpoint for ManagedIdentityCredential. */
  env(): { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string } {
    return { IDENTITY_ENDPOINT: this.endpoint, IDENTITY_HEADER: this.identityHeader };
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async listen(): Promise<void> {
    const timeout = this.options.requestTimeoutMs ?? 10_000;
    const server = createServer(
      // Slow clients are checked often enough for the timeout to mean something; big headers get a 431.
      { requestTimeout: timeout, headersTimeout: timeout, connectionsCheckingInterval: Math.min(1000, timeout), maxHeaderSize: 16 * 1024 },
      (req, res) => {
        // Whatever goes wrong with one request is that request's problem, never the process's.
        this.handle(req, res).catch(() => {
          if (!res.headersSent) this.reply(res, 500, { error: 'internal_error' });
          else res.destroy();
        });
      },
    );
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    server.unref();
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/msi/token`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reject = (status: number, error: string, description: string) => {
      this.rejected += 1;
      this.reply(res, status, { error, error_description: description });
    };
    const target = req.url ?? '';
    // Only origin-form ("/path?query"): absolute-form URLs and "//host" forms are not this protocol.
    if (!target.startsWith('/') || target.startsWith('//')) {
      return reject(400, 'invalid_request', 'the request target must be a path such as /msi/token?resource=…');
    }
    const queryAt = target.indexOf('?');
    const pathname = queryAt === -1 ? target : target.slice(0, queryAt);
    if (req.method !== 'GET' || pathname !== '/msi/token') return reject(404, 'not_found', 'only GET /msi/token is served');
    if (!this.headerMatches(req.headers['x-identity-header'])) {
      return reject(401, 'invalid_request', 'x-identity-header is missing or wrong');
    }
    const resource = new URLSearchParams(queryAt === -1 ? '' : target.slice(queryAt + 1)).get('resource');
    if (!resource) return reject(400, 'invalid_request', 'resource is required');
    // A client that hangs up stops the authority's work on its behalf.
    const abandoned = new AbortController();
    res.once('close', () => abandoned.abort());
    try {
      const token = await this.options.authority.getToken(`${resource.replace(/\/$/, '')}/.default`, {
        abortSignal: abandoned.signal,
      });
      if (!token) throw new Error('the authority returned no token');
      this.served += 1;
      this.reply(res, 200, {
        access_token: token.token,
        expires_on: String(Math.floor(token.expiresOnTimestamp / 1000)),
        resource,
        token_type: 'Bearer',
        client_id: this.options.clientId ?? '00000000-0000-0000-0000-000000000000',
      });
    } catch (error) {
      reject(500, 'service_unavailable', error instanceof Error ? error.message : 'the authority failed');
    }
  }

  /** Constant-time: hashing both sides gives equal lengths, so nothing about the header leaks through timing. */
  private headerMatches(sent: string | string[] | undefined): boolean {
    if (typeof sent !== 'string') return false;
    const digest = (value: string) => createHash('sha256').update(value).digest();
    return timingSafeEqual(digest(sent), digest(this.identityHeader));
  }

  private reply(res: ServerResponse, status: number, body: object): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
}
