import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from '../../lib/options/resolve-options.js';
import { decideTls, isLocalHost, parseSslMode } from '../../lib/options/tls-policy.js';

const decide = (host: string, more: { ssl?: boolean | object; allow?: boolean; mode?: string } = {}) =>
  decideTls({ host, ssl: more.ssl, allowInsecureTransport: more.allow, sslMode: more.mode });

describe('TLS policy', () => {
  it.each([
    'srv.postgres.database.azure.com',
    'SRV.Postgres.Database.Azure.COM.',
    'srv.postgres.database.usgovcloudapi.net',
    'srv.postgres.database.chinacloudapi.cn',
    'srv.privatelink.postgres.database.azure.com',
    'db.contoso.internal',
    '10.0.0.4',
    'fd00::4',
    'localhost.evil.example',
    'app.localhost',
  ])('verifies TLS by default for %s', (host) => {
    expect(decide(host)).toEqual({ ok: true, ssl: true, insecure: undefined });
  });

  it.each(['localhost', 'LOCALHOST.', '127.0.0.1', '127.255.0.9', '::1', '[::1]', '::ffff:127.0.0.1', '/var/run/postgresql'])(
    'needs no TLS on loopback: %s',
    (host) => {
      expect(isLocalHost(host)).toBe(true);
      expect(decide(host)).toEqual({ ok: true, ssl: false, insecure: undefined });
      expect(decide(host, { mode: 'disable' })).toEqual({ ok: true, ssl: false, insecure: undefined });
    },
  );

  it('maps PGSSLMODE case-insensitively, encryption modes to verified TLS', () => {
    expect(parseSslMode(' Verify-Full ')).toBe('verify-full');
    expect(parseSslMode('')).toBeUndefined();
    expect(parseSslMode('requre')).toBeNull();
    for (const mode of ['require', 'REQUIRE', 'prefer', 'verify-ca', 'verify-full']) {
      expect(decide('db.contoso.internal', { mode })).toEqual({ ok: true, ssl: true, insecure: undefined });
    }
  });

  it.each(['disable', 'allow', 'no-verify', 'DISABLE'])('refuses PGSSLMODE=%s to a remote host unless the code opts out', (mode) => {
    const refused = decide('db.contoso.internal', { mode });
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.error).toMatch(/PGSSLMODE=.* asks for .*allowInsecureTransport: true/s);
    const allowed = decide('db.contoso.internal', { mode, allow: true });
    expect(allowed).toMatchObject({ ok: true, insecure: expect.stringMatching(/db\.contoso\.internal/) });
  });

  it('refuses ssl: false and rejectUnauthorized: false to a remote host unless the code opts out', () => {
    expect(decide('srv.postgres.database.azure.com', { ssl: false })).toMatchObject({ ok: false, error: expect.stringMatching(/over plaintext/) });
    expect(decide('srv.postgres.database.azure.com', { ssl: { rejectUnauthorized: false } })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/without certificate verification/),
    });
    expect(decide('srv.postgres.database.azure.com', { ssl: false, allow: true })).toMatchObject({ ok: true, ssl: false });
    // A CA of one's own is still verified TLS.
    expect(decide('db.contoso.internal', { ssl: { ca: 'pem' } })).toEqual({ ok: true, ssl: { ca: 'pem' }, insecure: undefined });
  });

  it('an explicit ssl option wins over PGSSLMODE, but an unknown PGSSLMODE fails anyway', () => {
    expect(decide('db.contoso.internal', { ssl: true, mode: 'disable' })).toMatchObject({ ok: true, ssl: true });
    expect(decide('localhost', { ssl: false, mode: 'verify-full' })).toMatchObject({ ok: true, ssl: false });
    expect(decide('localhost', { mode: 'requre' })).toMatchObject({ ok: false, error: expect.stringMatching(/^Unknown PGSSLMODE "requre"/) });
  });

  it('takes the opt-out only as a boolean', () => {
    for (const value of ['true', 1, {}]) {
      expect(() => resolveOptions({ host: 'h', allowInsecureTransport: value }, 'default', {})).toThrow(/allowInsecureTransport must be true or false/);
    }
    expect(resolveOptions({ host: 'db.internal', ssl: false, allowInsecureTransport: true }, 'default', {}).insecureTransport).toMatch(/plaintext/);
  });
});
