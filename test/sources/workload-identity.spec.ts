import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestToken, LocalEntraLogin, type LocalTokenAuthority } from '../../lib/testing/index.js';
import { runTypeScriptChild, type ChildResult } from '../support/child-node.js';
import { EntraTokenEndpoint } from '../support/entra-token-endpoint.js';
import { BLOCKED_EXIT_CODE, BLOCKED_MARKER } from '../support/loopback-only.constants.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

const APP = 'test/support/workload-identity-app.ts';
const GUARD = 'test/support/loopback-only.guard.ts';
const CLIENT_ID = '5b3c1a1e-0000-4000-8000-00000000c11e';
const TENANT_ID = '7e7a9b1c-0000-4000-8000-0000000007e1';
const MI_PATH = '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/';
const ROLE = 'orders-aks-identity';

function failureReport(child: ChildResult): string {
  return `child exited with ${child.code ?? child.signal}\n--- stdout\n${child.stdout}\n--- stderr\n${child.stderr}`;
}

// The whole AKS path in a real production process: the webhook's environment, the projected
// service-account token on disk, MSAL's client-assertion flow over HTTPS to an authority on
// 127.0.0.1, and a login to PostgreSQL with the token it returns. A guard preloaded into the
// child ends it the moment anything connects to (or looks up) a host other than 127.0.0.1.
describe('AKS workload identity end to end: the production default with no credential', () => {
  let db: TestPostgres;
  let front: LocalEntraLogin;
  let authority: LocalTokenAuthority;
  let endpoint: EntraTokenEndpoint;
  let dir: string;
  let aksEnv: NodeJS.ProcessEnv;
  let serviceAccountToken: string;

  beforeAll(async () => {
    db = await startPostgres();
    await db.createRole(ROLE);
    front = await LocalEntraLogin.start({ admin: db.admin });
    // An hour, as Entra tokens live: no refresh falls inside the run, so one token request is the whole story.
    authority = front.authority({ role: ROLE, lifetimeMs: 3_600_000, claims: { xms_mirid: `${MI_PATH}${ROLE}`, oid: '2222' } });
    endpoint = await EntraTokenEndpoint.start({ authority });
    dir = await mkdtemp(join(tmpdir(), 'entra-pg-aks-'));
    // What kubelet projects into the pod: a service-account JWT for the api://AzureADTokenExchange audience.
    serviceAccountToken = createTestToken(
      { iss: 'https://oidc.aks.local.test/', sub: 'system:serviceaccount:orders:orders-api', aud: ['api://AzureADTokenExchange'] },
      new Date(Date.now() + 3_600_000),
    );
    await writeFile(join(dir, 'azure-identity-token'), serviceAccountToken);
    await writeFile(join(dir, 'authority-ca.pem'), endpoint.certificate);
    aksEnv = {
      NODE_ENV: 'production',
      // What the azure-workload-identity webhook injects into a labelled pod.
      AZURE_CLIENT_ID: CLIENT_ID,
      AZURE_TENANT_ID: TENANT_ID,
      AZURE_FEDERATED_TOKEN_FILE: join(dir, 'azure-identity-token'),
      AZURE_AUTHORITY_HOST: `${endpoint.authorityHost}/`,
      NODE_EXTRA_CA_CERTS: join(dir, 'authority-ca.pem'),
      PGHOST: front.host,
      PGPORT: String(front.port),
    };
  });
  afterAll(async () => {
    await endpoint?.close();
    await authority?.close();
    await front?.close();
    await db?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exchanges the projected service-account token at the authority and logs in as the identity, talking only to 127.0.0.1', async () => {
    const child = await runTypeScriptChild(APP, aksEnv, { preload: [GUARD], timeoutMs: 60_000 });
    // The whole output when it failed, since the child is where the story is.
    expect({ code: child.code, blocked: child.stderr.includes(BLOCKED_MARKER), output: child.code === 0 ? '' : failureReport(child) }).toEqual({
      code: 0,
      blocked: false,
      output: '',
    });

    expect(child.stdout).toContain(`RESULT ${JSON.stringify({ users: [ROLE] })}`);
    expect(child.stdout.match(/No credential given: using [^\n]*/g)).toEqual([
      `No credential given: using WorkloadIdentityCredential (AKS workload identity, client id ${CLIENT_ID})`,
    ]);
    // MSAL asked the configured authority (and nothing else) for the tenant's metadata, then a token.
    expect(endpoint.requests).toEqual([
      { method: 'GET', path: `/${TENANT_ID}/v2.0/.well-known/openid-configuration` },
      { method: 'POST', path: `/${TENANT_ID}/oauth2/v2.0/token` },
    ]);
    // The federated flow: the file's content is the client assertion, for the webhook's client id.
    expect(endpoint.tokenRequests).toEqual([
      {
        tenant: TENANT_ID,
        clientId: CLIENT_ID,
        grantType: 'client_credentials',
        scope: 'https://ossrdbms-aad.database.windows.net/.default',
        clientAssertionType: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        clientAssertion: serviceAccountToken,
      },
    ]);
    // The token the authority minted is the one PostgreSQL accepted.
    expect(authority.issued).toBe(1);
    expect(front.logins).toBeGreaterThanOrEqual(1);
    expect(front.refusals).toBe(0);
    for (const secret of [...authority.tokens, serviceAccountToken]) expect(child.stdout + child.stderr).not.toContain(secret);
  }, 90_000);

  it('the guard is not blind: an authority on another address ends the child before a byte is sent (127.0.0.2: loopback, should the guard ever fail)', async () => {
    const elsewhere = { ...aksEnv, AZURE_AUTHORITY_HOST: aksEnv.AZURE_AUTHORITY_HOST!.replace('127.0.0.1', '127.0.0.2') };
    const child = await runTypeScriptChild(APP, elsewhere, { preload: [GUARD], timeoutMs: 60_000 });
    expect(child.code).toBe(BLOCKED_EXIT_CODE);
    expect(child.stderr).toMatch(new RegExp(`${BLOCKED_MARKER} connection to 127\\.0\\.0\\.2:\\d+`));
    expect(child.stdout).toContain(`No credential given: using WorkloadIdentityCredential (AKS workload identity, client id ${CLIENT_ID})`);
    expect(child.stdout).not.toContain('RESULT');
  }, 90_000);
});
