import { describe, expect, it } from '@jest/globals';
import { ChainedTokenCredential, ManagedIdentityCredential, WorkloadIdentityCredential } from '@azure/identity';
import { nodeEnvKind } from '../../lib/common/node-env.js';
import { createDefaultCredential } from '../../lib/sources/entra-default-credential.js';
import { EntraPgConfigError } from '../../lib/index.js';
import { LogCapture } from '../support/log-capture.js';

// Building a credential does no I/O; nothing here asks any endpoint for a token.
describe('the default credential follows NODE_ENV, read forgivingly where a mistake is unsafe', () => {
  it.each(['production', 'PRODUCTION', ' production', 'prod', 'Prod ', 'prd'])('NODE_ENV=%j means managed identity', async (value) => {
    expect(nodeEnvKind(value)).toBe('production');
    expect(await createDefaultCredential('default', { NODE_ENV: value })).toBeInstanceOf(ManagedIdentityCredential);
  });

  it.each([undefined, '', 'development', 'Test', 'dev'])('NODE_ENV=%j means the developer chain', async (value) => {
    expect(await createDefaultCredential('default', { NODE_ENV: value })).toBeInstanceOf(ChainedTokenCredential);
  });

  it.each(['staging', 'qa', 'uat'])('NODE_ENV=%j fails with a message instead of guessing', async (value) => {
    const failing = createDefaultCredential('reports', { NODE_ENV: value });
    await expect(failing).rejects.toThrow(EntraPgConfigError);
    await expect(failing).rejects.toThrow(new RegExp(`NODE_ENV="${value}" is neither production nor development/test.*Pass \`credential\``));
  });
});

/** What WorkloadIdentityCredential keeps of its options (not public API: read to prove what was passed). */
interface WorkloadIdentityInternals {
  federatedTokenFilePath?: string;
  client?: { tenantId?: string; options?: { disableInstanceDiscovery?: boolean } };
}

describe('in production, AKS workload identity is chosen when its federated token file is mounted', () => {
  const aks = {
    NODE_ENV: 'production',
    AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
    AZURE_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
    AZURE_TENANT_ID: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
  };

  it('builds a WorkloadIdentityCredential for the webhook-injected client, tenant and file, and logs which once', async () => {
    const logs = LogCapture.install();
    const credential = await createDefaultCredential('orders', { ...aks, AZURE_CLIENT_ID: ` ${aks.AZURE_CLIENT_ID}\n` });
    expect(credential).toBeInstanceOf(WorkloadIdentityCredential);
    const internals = credential as unknown as WorkloadIdentityInternals;
    expect(internals.federatedTokenFilePath).toBe(aks.AZURE_FEDERATED_TOKEN_FILE);
    expect(internals.client?.tenantId).toBe(aks.AZURE_TENANT_ID);
    // MSAL would otherwise ask login.microsoftonline.com to vouch for AZURE_AUTHORITY_HOST.
    expect(internals.client?.options?.disableInstanceDiscovery).toBe(true);
    expect(logs.lines.map(({ level, context, message }) => ({ level, context, message }))).toEqual([
      {
        level: 'log',
        context: 'EntraPg:orders',
        message: `No credential given: using WorkloadIdentityCredential (AKS workload identity, client id ${aks.AZURE_CLIENT_ID})`,
      },
    ]);
  });

  it.each([
    ['AZURE_CLIENT_ID', { AZURE_CLIENT_ID: undefined }, /but AZURE_CLIENT_ID is not\./],
    ['AZURE_TENANT_ID', { AZURE_TENANT_ID: '' }, /but AZURE_TENANT_ID is not\./],
    ['both ids', { AZURE_CLIENT_ID: ' ', AZURE_TENANT_ID: '\t' }, /but AZURE_CLIENT_ID and AZURE_TENANT_ID are not\./],
  ])('fails naming what is missing when the token file is set without %s', async (_, unset, named) => {
    const logs = LogCapture.install();
    const failing = createDefaultCredential('orders', { ...aks, ...unset });
    await expect(failing).rejects.toThrow(EntraPgConfigError);
    await expect(failing).rejects.toThrow(named);
    await expect(failing).rejects.toThrow(/EntraPgModule "orders": AZURE_FEDERATED_TOKEN_FILE is set \(AKS workload identity\).*pass `credential`/);
    expect(logs.lines).toEqual([]);
  });

  it.each([
    ['unset', undefined],
    ['empty', ''],
    ['whitespace only', ' \n\t'],
  ])('a token file variable that is %s means managed identity, user-assigned when a client id is set', async (_, file) => {
    const logs = LogCapture.install();
    const credential = await createDefaultCredential('orders', { ...aks, AZURE_FEDERATED_TOKEN_FILE: file });
    expect(credential).toBeInstanceOf(ManagedIdentityCredential);
    expect(logs.matching(/^No credential given/).map((line) => line.message)).toEqual([
      `No credential given: using ManagedIdentityCredential (user-assigned, client id ${aks.AZURE_CLIENT_ID})`,
    ]);
  });

  it('a whitespace-only client id means system-assigned managed identity', async () => {
    const logs = LogCapture.install();
    const credential = await createDefaultCredential('orders', { NODE_ENV: 'production', AZURE_CLIENT_ID: '  ' });
    expect(credential).toBeInstanceOf(ManagedIdentityCredential);
    expect(logs.matching(/^No credential given/).map((line) => line.message)).toEqual([
      'No credential given: using ManagedIdentityCredential (system-assigned)',
    ]);
  });
});
