import { loadOptionalPeer } from '../common/optional-peer.js';
import { Logger } from '@nestjs/common';
import { nodeEnvKind } from '../common/node-env.js';
import { EntraPgConfigError } from '../entra-pg.errors.js';
import type { EntraTokenCredential } from '../interfaces/token-credential.interface.js';

/**
 * The credential used when none is given. Deterministic on purpose: DefaultAzureCredential can
 * switch identity under a running app (someone runs `az login` on the VM) and probes the metadata
 * endpoint everywhere. In production: AKS workload identity when its federated token file is
 * mounted (the metadata endpoint there is the node's identity, not the pod's), else managed
 * identity; in development a developer chain that never probes for a managed identity.
 */
export async function createDefaultCredential(
  connectionName: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EntraTokenCredential> {
  const fail = (message: string, cause?: unknown) =>
    new EntraPgConfigError(`EntraPgModule "${connectionName}": ${message}`, connectionName, cause === undefined ? undefined : { cause });
  const identity = await loadOptionalPeer(
    () => import('@azure/identity'),
    (cause) =>
      fail('no credential was given and @azure/identity is not installed. Install it (npm i @azure/identity), or pass `credential`, `source` or `password`.', cause),
  );
  const kind = nodeEnvKind(env.NODE_ENV);
  if (kind === 'unknown') {
    // Guessing wrong either way is bad: the developer chain in production can pick up whoever ran
    // `az login` on the machine, and managed identity elsewhere probes for an endpoint.
    throw fail(
      `NODE_ENV=${JSON.stringify(env.NODE_ENV)} is neither production nor development/test, so no default credential ` +
        'is chosen. Pass `credential` (for example a ManagedIdentityCredential), or set NODE_ENV to production or development.',
    );
  }
  const logger = new Logger(`EntraPg:${connectionName}`);
  if (kind === 'production') {
    const clientId = nonEmpty(env.AZURE_CLIENT_ID);
    const tokenFilePath = nonEmpty(env.AZURE_FEDERATED_TOKEN_FILE);
    if (tokenFilePath) {
      const tenantId = nonEmpty(env.AZURE_TENANT_ID);
      const missing = [clientId ? undefined : 'AZURE_CLIENT_ID', tenantId ? undefined : 'AZURE_TENANT_ID'].filter(Boolean);
      if (missing.length > 0) {
        throw fail(
          `AZURE_FEDERATED_TOKEN_FILE is set (AKS workload identity) but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not. ` +
            'Label the pod azure.workload.identity/use: "true" with a service account annotated with the client id, or pass `credential`.',
        );
      }
      logger.log(`No credential given: using WorkloadIdentityCredential (AKS workload identity, client id ${clientId})`);
      // Without this MSAL validates any authority host it does not know (AZURE_AUTHORITY_HOST) by
      // asking login.microsoftonline.com first. @azure/identity's own ManagedIdentityCredential
      // turns it off for this same flow (tokenExchangeMsi); the authority is the one the webhook set.
      return new identity.WorkloadIdentityCredential({ clientId, tenantId, tokenFilePath, disableInstanceDiscovery: true });
    }
    logger.log(
      `No credential given: using ManagedIdentityCredential (${clientId ? `user-assigned, client id ${clientId}` : 'system-assigned'})`,
    );
    return clientId ? new identity.ManagedIdentityCredential({ clientId }) : new identity.ManagedIdentityCredential();
  }
  logger.log('No credential given: using the developer chain (Azure CLI, Azure Developer CLI, environment)');
  return new identity.ChainedTokenCredential(
    new identity.AzureCliCredential(),
    new identity.AzureDeveloperCliCredential(),
    new identity.EnvironmentCredential(),
  );
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
