import { describe, expect, it } from '@jest/globals';
import { EntraPgCredentialError, type PgSecretSource, SecretSourceError } from '../../lib/index.js';
import { readSecrets } from '../../lib/refresh/read-secrets.js';

const signal = new AbortController().signal;

function answering(answer: unknown, label = 'test secret'): PgSecretSource {
  return { label, fetch: async () => answer as never };
}

describe('readSecrets: every answer of every source is checked in one place', () => {
  it('turns dates into epoch ms and falls back to the user option', async () => {
    const expiresAt = new Date('2030-01-01T00:00:00Z');
    const refreshAfter = new Date('2029-12-31T23:00:00Z');
    const reader = readSecrets(answering({ password: 'pw', expiresAt, refreshAfter }), 'app_user', 'default');
    await expect(reader.fetch(signal)).resolves.toEqual({
      user: 'app_user',
      password: 'pw',
      expiresAt: expiresAt.getTime(),
      refreshAfter: refreshAfter.getTime(),
    });
    // The secret's own user wins: that is how alternating-user rotation reaches the pool.
    await expect(readSecrets(answering({ user: 'app_b', password: 'pw' }), 'app_user', 'default').fetch(signal)).resolves.toMatchObject({ user: 'app_b' });
  });

  it.each([
    ['nothing', undefined, /test source returned no secret/],
    ['a string', 'just-a-password', /test source returned no secret/],
    ['no password', { user: 'u' }, /returned no password/],
    ['an empty password', { user: 'u', password: '' }, /returned no password/],
    ['a user with a NUL', { user: 'u\u0000x', password: 'pw' }, /invalid user \(it contains a control or invisible character/],
    ['a user that is not a string', { user: 42, password: 'pw' }, /invalid user \(not a string\)/],
    ['expiresAt as a number', { user: 'u', password: 'pw', expiresAt: 1_900_000_000 }, /invalid expiresAt \(not a valid Date\)/],
    ['an invalid date', { user: 'u', password: 'pw', refreshAfter: new Date('nope') }, /invalid refreshAfter/],
  ])('refuses %s with a message naming the source, never the secret', async (_name, answer, message) => {
    const reader = readSecrets({ label: 'test secret', description: 'test source', fetch: async () => answer as never }, 'u', 'orders');
    const error = await reader.fetch(signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EntraPgCredentialError);
    expect(error).toMatchObject({ connectionName: 'orders', code: 'ENTRA_PG_CREDENTIAL', message: expect.stringMatching(message) });
    expect((error as Error).message).not.toContain('just-a-password');
  });

  it('refuses a secret with no user when no user option is set', async () => {
    await expect(readSecrets(answering({ password: 'pw' }), undefined, 'default').fetch(signal)).rejects.toThrow(
      /returned no user, and neither the `user` option nor PGUSER is set/,
    );
  });

  it("shows a built-in source's own wording under the connection's name, and passes other failures on as they are", async () => {
    const worded = readSecrets({ label: 'x', fetch: () => Promise.reject(new SecretSourceError('Set the `user` option.')) }, 'u', 'orders');
    await expect(worded.fetch(signal)).rejects.toMatchObject({ name: 'EntraPgCredentialError', connectionName: 'orders', message: 'Set the `user` option.' });
    const network = new Error('ECONNREFUSED');
    await expect(readSecrets({ label: 'x', fetch: () => Promise.reject(network) }, 'u', 'orders').fetch(signal)).rejects.toBe(network);
    // A source that throws synchronously is a failed fetch too, not an exception in the refresher.
    const throwing = readSecrets({ label: 'x', fetch: () => { throw network; } }, 'u', 'orders');
    await expect(throwing.fetch(signal)).rejects.toBe(network);
  });

  it('passes the abort signal through and names the source by its label when it has no description', async () => {
    let seen: AbortSignal | undefined;
    const reader = readSecrets({ label: 'Vault secret', fetch: async (s) => ((seen = s), { password: 'pw' }) }, 'u', 'default');
    await reader.fetch(signal);
    expect(seen).toBe(signal);
    expect(reader).toMatchObject({ label: 'Vault secret', description: 'Vault secret' });
  });
});
