import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EntraTokenCredential } from '../../lib/interfaces/token-credential.interface.js';
import { createSelfSignedCertificate } from '../../lib/testing/self-signed-certificate.js';

/** One client-credentials request as the token endpoint received it. */
export interface TokenRequest {
  tenant: string;
  clientId: string | null;
  grantType: string | null;
  scope: string | null;
  clientAssertionType: string | null;
  clientAssertion: string | null;
}

export interface EntraTokenEndpointOptions {
  /** Mints the access tokens handed out (typically a LocalTokenAuthority registered with a LocalEntraLogin). */
  authority: EntraTokenCredential;
}

const MAX_BODY = 64 * 1024;
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * A Microsoft Entra authority on https://127.0.0.1 (self-signed; the client trusts `certificate`)
 * serving what MSAL asks of an authority host for the client-credentials flow with a client
 * assertion, which is what WorkloadIdentityCredential does with AKS's federated token: the
 * tenant's OpenID metadata, then POST {tenant}/oauth2/v2.0/token. Every request is recorded so a
 * test can see exactly what the client asked for.
 */
export class EntraTokenEndpoint {
  /** Every request, in order: method and path without the query. */
  readonly requests: { method: string; path: string }[] = [];
  /** Token requests that carried a client assertion. */
  readonly tokenRequests: TokenRequest[] = [];
  private server: Server | undefined;

  private constructor(
    private readonly options: EntraTokenEndpointOptions,
    /** PEM certificate of the endpoint, to trust in the client (NODE_EXTRA_CA_CERTS). */
    readonly certificate: string,
  ) {}

  static async start(options: EntraTokenEndpointOptions): Promise<EntraTokenEndpoint> {
    const { cert, key } = await createSelfSignedCertificate();
    const endpoint = new EntraTokenEndpoint(options, cert);
    const server = createServer({ cert, key, requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
      // One request's failure is that request's problem, never the test process's.
      endpoint.handle(req, res).catch((error: Error) => endpoint.reply(res, 500, { error: 'server_error', error_description: error.message }));
    });
    server.keepAliveTimeout = 1_000;
    // once() rejects on 'error' (a port taken, say) instead of waiting for 'listening' forever.
    await once(server.listen(0, '127.0.0.1'), 'listening');
    endpoint.server = server.unref();
    return endpoint;
  }

  /** For AZURE_AUTHORITY_HOST. */
  get authorityHost(): string {
    if (!this.server) throw new Error('EntraTokenEndpoint is closed');
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = once(server, 'close');
    server.close().closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0]!;
    this.requests.push({ method: req.method ?? '', path });
    const metadata = /^\/([\w.-]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
    if (req.method === 'GET' && metadata) return this.reply(res, 200, this.openIdConfiguration(metadata[1]!));
    const token = /^\/([\w.-]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (req.method === 'POST' && token) return this.token(token[1]!, new URLSearchParams(await readBody(req)), res);
    this.reply(res, 404, { error: 'not_found', error_description: `${req.method} ${path} is not served by this test authority` });
  }

  private openIdConfiguration(tenant: string): object {
    const base = `${this.authorityHost}/${tenant}`;
    return {
      issuer: `${base}/v2.0`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      token_endpoint: `${base}/oauth2/v2.0/token`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_types_supported: ['code', 'id_token', 'token'],
    };
  }

  private async token(tenant: string, form: URLSearchParams, res: ServerResponse): Promise<void> {
    const request: TokenRequest = {
      tenant,
      clientId: form.get('client_id'),
      grantType: form.get('grant_type'),
      scope: form.get('scope'),
      clientAssertionType: form.get('client_assertion_type'),
      clientAssertion: form.get('client_assertion'),
    };
    if (request.grantType !== 'client_credentials' || request.clientAssertionType !== JWT_BEARER || !request.clientAssertion || !request.scope) {
      return this.reply(res, 400, { error: 'invalid_request', error_description: 'expected client_credentials with a jwt-bearer client assertion and a scope' });
    }
    this.tokenRequests.push(request);
    // A client that hangs up stops the authority's work on its behalf.
    const abandoned = new AbortController();
    res.once('close', () => abandoned.abort());
    const minted = await this.options.authority.getToken(request.scope, { abortSignal: abandoned.signal });
    if (!minted) throw new Error('the authority returned no token');
    const expiresIn = Math.max(1, Math.floor((minted.expiresOnTimestamp - Date.now()) / 1000));
    this.reply(res, 200, { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: minted.token });
  }

  private reply(res: ServerResponse, status: number, body: object): void {
    if (res.headersSent) return void res.destroy();
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
}

/** The request body, refused past MAX_BODY so a runaway client cannot fill memory. */
async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > MAX_BODY) throw new Error('request body too large');
  }
  return body;
}
