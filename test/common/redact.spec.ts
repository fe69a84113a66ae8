import { describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { redact, rememberSecret } from '../../lib/common/redact.js';
import type { FetchedSecret, SecretReader } from '../../lib/refresh/fetched-secret.js';
import { describeCause } from '../../lib/entra-pg.errors.js';
import { CredentialRefresher } from '../../lib/refresh/credential-refresher.js';
import { DEFAULT_REFRESH_SETTINGS } from '../../lib/options/entra-pg.defaults.js';
import { createTestToken } from '../../lib/testing/index.js';
import { LogCapture } from '../support/log-capture.js';

const TOKEN = createTestToken({ upn: 'a@b.c' }, new Date(Date.now() + 60_000));

describe('redaction', () => {
  it('removes a JWT even when a body wraps it across lines', () => {
    const wrapped = TOKEN.replace(/(.{60})/g, '$1\n');
    const out = describeCause(new Error(`response body:\n${wrapped}\nend`));
    expect(out).toMatch(/\[redacted token\]/);
    for (const line of wrapped.split('\n').filter((piece) => piece.length > 8)) expect(out).not.toContain(line);
  });

  it('leaves ordinary words that merely contain "eyJ" alone', () => {
    expect(redact('heyJude and monkeyJump')).toBe('heyJude and monkeyJump');
  });

  it('removes a known non-JWT secret once it has been remembered', () => {
    const secret = 'vault-pass-9f8e7d';
    expect(describeCause(new Error(`login with ${secret} failed`))).toContain(secret);
    rememberSecret(secret);
    expect(describeCause(new Error(`login with ${secret} failed`))).toBe('Error: login with [redacted secret] failed');
  });

  it('looks at bounded input only, so a huge hostile body costs little and a secret past the bound never shows', () => {
    const hostile = `eyJ${'eyJa'.repeat(250_000)}`;
    const out = describeCause(new Error(hostile));
    expect(out.length).toBeLessThan(600);
    const secret = 'known-secret-at-the-cut';
    rememberSecret(secret);
    for (let cut = 16 * 1024 - secret.length - 40; cut < 16 * 1024 + 5; cut += 1) {
      const text = `${'x '.repeat(cut).slice(0, cut)}${secret} tail`;
      const bounded = redact(text, Number.POSITIVE_INFINITY);
      for (let k = 4; k <= secret.length; k += 1) expect(bounded).not.toContain(secret.slice(0, k) + (k < secret.length ? '…' : ''));
    }
  });

  it('the refresher remembers every secret it fetches, so a later failure echoing it is redacted', async () => {
    const logs = LogCapture.install();
    const password = `rotated-${Math.random().toString(36).slice(2)}`;
    let calls = 0;
    const source: SecretReader = {
      label: 'vault secret',
      description: 'echoing vault',
      fetch: async (): Promise<FetchedSecret> => {
        calls += 1;
        if (calls === 1) return { user: 'u', password, expiresAt: Date.now() + 10, refreshAfter: undefined };
        throw new Error(`vault refused: previous secret was ${password}`);
      },
    };
    const refresher = new CredentialRefresher(source, { ...DEFAULT_REFRESH_SETTINGS, forcedRefreshMinIntervalMs: 0 }, 'default', new Logger('EntraPg:default'));
    try {
      await refresher.get();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const failure = await refresher.get().then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(failure?.message).toMatch(/previous secret was \[redacted secret\]/);
      expect(refresher.snapshot().lastError).not.toContain(password);
      logs.assertNoSecrets([password]);
    } finally {
      refresher.stop();
    }
  });
});
