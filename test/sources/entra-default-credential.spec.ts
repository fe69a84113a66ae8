import { describe, expect, it } from '@jest/globals';
import { ChainedTokenCredential, ManagedIdentityCredential } from '@azure/identity';
import { nodeEnvKind } from '../../lib/common/node-env.js';
import { createDefaultCredential } from '../../lib/sources/entra-default-credential.js';
import { EntraPgConfigError } from '../../lib/index.js';

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
