import { nodeEnvKind } from '../common/node-env.js';
import { EntraPgConfigError } from '../entra-pg.errors.js';
import type { EntraTokenCredential } from '../interfaces/token-credential.interface.js';

/**
 * The credential used when none is given. Deterministic on purpose: DefaultAzureCredential can
 * switch identity under a running app (someone runs `az login` on the VM) and probes the metadata
 * endpoint everywhere; here production means managed identity and nothing else, and development
 * never probes for one.
 */
export async function createDefaultCredential(
  connectionName: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EntraTokenCredential> {
  let identity: typeof import('@azure/identity');
  try {
    identity = await import('@azure/identity');
  } catch (cause) {
    throw new EntraPgConfigError(
      'No credential was given and @azure/identity is not installed. Install it (npm i @azure/identity), ' +
        'or pass `credential`, `credentials` or `password`.',
      connectionName,
      { cause },
    );
  }
  const kind = nodeEnvKind(env.NODE_ENV);
  if (kind === 'unknown') {
    // Guessing wrong either way is bad: the developer chain in production can pick up whoever ran
    // `az login` on the machine, and managed identity elsewhere probes for an endpoint.
    throw new EntraPgConfigError(
      `NODE_ENV=${JSON.stringify(env.NODE_ENV)} is neither production nor development/test, so no default credential ` +
        'is chosen. Pass `credential` (for example a ManagedIdentityCredential), or set NODE_ENV to production or development.',
      connectionName,
    );
  }
  if (kind === 'production') {
    const clientId = env.AZURE_CLIENT_ID;
    return clientId ? new identity.ManagedIdentityCredential({ clientId }) : new identity.ManagedIdentityCredential();
  }
  return new identity.ChainedTokenCredential(
    new identity.AzureCliCredential(),
    new identity.AzureDeveloperCliCredential(),
    new identity.EnvironmentCredential(),
  );
}
