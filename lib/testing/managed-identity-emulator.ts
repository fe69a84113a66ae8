import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { EntraTokenCredential } from '../interfaces/token-credential.interface.js';

export interface ManagedIdentityEmulatorOptions {
  /** Where tokens come from, typically a LocalTokenAuthority. */
  authority: EntraTokenCredential;
  /** The secret clients must send as x-identity-header. Default: random. */
  identityHeader?: string;
  /** client_id reported in responses. */
  clientId?: string;
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
    const server = createServer((req, res) => void this.handle(req, res));
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
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const reply = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' || url.pathname !== '/msi/token') {
      this.rejected += 1;
      return reply(404, { error: 'not_found' });
    }
    if (req.headers['x-identity-header'] !== this.identityHeader) {
      this.rejected += 1;
      return reply(401, { error: 'invalid_request', error_description: 'x-identity-header is missing or wrong' });
    }
    const resource = url.searchParams.get('resource');
    if (!resource) {
      this.rejected += 1;
      return reply(400, { error: 'invalid_request', error_description: 'resource is required' });
    }
    try {
      const token = await this.options.authority.getToken(`${resource.replace(/\/$/, '')}/.default`);
      if (!token) throw new Error('the authority returned no token');
      this.served += 1;
      reply(200, {
        access_token: token.token,
        expires_on: String(Math.floor(token.expiresOnTimestamp / 1000)),
        resource,
        token_type: 'Bearer',
        client_id: this.options.clientId ?? '00000000-0000-0000-0000-000000000000',
      });
    } catch (error) {
      this.rejected += 1;
      reply(500, { error: 'service_unavailable', error_description: (error as Error).message });
    }
  }
}
