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
  if (env.NODE_ENV === 'production') {
    const clientId = env.AZURE_CLIENT_ID;
    return clientId ? new identity.ManagedIdentityCredential({ clientId }) : new identity.ManagedIdentityCredential();
  }
  return new identity.ChainedTokenCredential(
    new identity.AzureCliCredential(),
    new identity.AzureDeveloperCliCredential(),
    new identity.EnvironmentCredential(),
  );
}
