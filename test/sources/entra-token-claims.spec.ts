import { decodeJwtPayload, userFromToken } from '../../lib/sources/entra-token-claims.js';
import { createTestToken } from '../../lib/testing/index.js';

const token = (claims: Record<string, unknown>) => createTestToken(claims, new Date(Date.now() + 60_000));
const MI = '/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/';

describe('userFromToken', () => {
  it('prefers a user-assigned identity name from xms_mirid, keeping its case', () => {
    expect(userFromToken(token({ xms_mirid: `${MI}My-App`, upn: 'someone@contoso.com' }))).toEqual({
      ok: true,
      user: 'My-App',
      claim: 'xms_mirid',
    });
  });

  it('skips an xms_mirid that is not a user-assigned identity path', () => {
    const systemAssigned = '/subscriptions/s/resourcegroups/rg/providers/Microsoft.Web/sites/my-site';
    expect(userFromToken(token({ xms_mirid: systemAssigned, upn: 'dev@contoso.com' }))).toMatchObject({ user: 'dev@contoso.com', claim: 'upn' });
  });

  it.each([
    [{ upn: 'a@x.com', preferred_username: 'b@x.com', unique_name: 'c@x.com' }, 'a@x.com', 'upn'],
    [{ preferred_username: 'b@x.com', unique_name: 'c@x.com' }, 'b@x.com', 'preferred_username'],
    [{ unique_name: 'c@x.com' }, 'c@x.com', 'unique_name'],
    [{ upn: '', unique_name: 'c@x.com' }, 'c@x.com', 'unique_name'],
  ])('falls back in order: %j', (claims, user, claim) => {
    expect(userFromToken(token(claims))).toEqual({ ok: true, user, claim });
  });

  it('says when no claim fits, or the token is not a JWT', () => {
    expect(userFromToken(token({ oid: '1', appid: '2' }))).toEqual({ ok: false, reason: 'no-user-claim' });
    for (const bad of ['', 'abc', 'a.b', 'a.%%%.c', `x.${Buffer.from('[1,2]').toString('base64url')}.y`, `x.${Buffer.from('null').toString('base64url')}.y`]) {
      expect(userFromToken(bad)).toEqual({ ok: false, reason: 'not-a-jwt' });
    }
    expect(decodeJwtPayload(`x.${'A'.repeat(70_000)}.y`)).toBeUndefined();
  });
});

describe('claims are validated before they become the PostgreSQL user', () => {
  it.each([
    ['a NUL that would add startup parameters', 'a\u0000options\u0000-c search_path=evil'],
    ['a line break that would forge log lines', 'app\n[Nest] 1 - LOG [EntraPg:default] Connected as "admin"'],
    ['a carriage return', 'app\rX'],
    ['a bidi override', 'app\u202Euser'],
    ['a zero-width space', 'ad\u200Bmin'],
    ['a lone surrogate', 'app\uD800'],
    ['surrounding white space', ' app '],
    ['an absurd length', 'a'.repeat(257)],
  ])('rejects %s', (_what, upn) => {
    expect(userFromToken(token({ upn }))).toMatchObject({ ok: false, reason: 'invalid-user', claim: 'upn' });
  });

  it('accepts real Entra names, including long UPNs and non-ASCII letters', () => {
    const long = `${'x'.repeat(64)}@${'y'.repeat(44)}.com`;
    for (const upn of ['dev@contoso.com', 'José.Müller@contoso.onmicrosoft.com', long, 'my app (prod)']) {
      expect(userFromToken(token({ upn }))).toEqual({ ok: true, user: upn, claim: 'upn' });
    }
    expect(userFromToken(token({ xms_mirid: `${MI}todo-api-identity` }))).toMatchObject({ ok: true, user: 'todo-api-identity' });
  });
});
