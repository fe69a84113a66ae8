import { CallbackSource, SecretSourceError } from '../../lib/index.js';

describe('CallbackSource', () => {
  it('hands the signal to the function and returns what it resolves to', async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const source = new CallbackSource(async (signal) => {
      seen = signal;
      return { user: 'app', password: 'from-vault' };
    }, { label: 'vault secret' });
    await expect(source.fetch(controller.signal)).resolves.toEqual({ user: 'app', password: 'from-vault' });
    expect(seen).toBe(controller.signal);
    expect(source.description).toBe('vault secret callback');
  });

  it("refuses what is not a function at construction (0.1's { getCredentials } object), saying what to pass", () => {
    const legacy = { getCredentials: async () => ({ password: 'p' }) };
    expect(() => new CallbackSource(legacy as never)).toThrow(SecretSourceError);
    expect(() => new CallbackSource(legacy as never)).toThrow(
      /CallbackSource: the first argument must be a function \(signal\) => Promise<\{ password, user\?, expiresAt\?, refreshAfter\? \}>/,
    );
    expect(() => new CallbackSource(async () => ({ password: 'p' }), { label: '' })).toThrow(/CallbackSource: `label` must be a non-empty string/);
  });
});
