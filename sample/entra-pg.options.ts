import { ManagedIdentityCredential } from '@azure/identity';
import type { EntraPgModuleOptions } from 'nestjs-entra-pg';

/** The app's EntraPgModule options, shared by the module (app.module.ts) and `npm run doctor` (doctor.ts). */
export function entraPgOptions(get: (name: string) => string | undefined): EntraPgModuleOptions {
  const clientId = get('AZURE_CLIENT_ID');
  return {
    // PGHOST, PGPORT, PGDATABASE and PGUSER are read by the module when not given here.
    host: get('PGHOST'),
    // One credential instance for the app's life; a user-assigned identity is picked by client id.
    // The module retries a failed refresh on its own backoff while the token is still valid, so
    // the credential's own retry chain (seconds to a minute) is cut short to report failures promptly.
    credential: new ManagedIdentityCredential({ ...(clientId ? { clientId } : {}), retryOptions: { maxRetries: 1 } }),
    pool: { max: Number(get('PG_POOL_MAX') ?? 10), maxLifetimeSeconds: 3600 },
    applicationName: 'todo-sample',
  };
}
