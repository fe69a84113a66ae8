import { isConnectionGone, isLoginRejected } from '../../lib/pool/login-errors.js';

describe('login and connection errors', () => {
  it('treats a session the server ended as gone, whatever language the severity is in', () => {
    expect(isConnectionGone({ severity: 'FATAL', code: '57P01' })).toBe(true);
    expect(isConnectionGone({ severity: 'SCHWERWIEGEND', code: '57P01' })).toBe(true); // lc_messages=de
    expect(isConnectionGone({ severity: 'PANIC', code: 'XX000' })).toBe(true);
    expect(isConnectionGone({ severity: 'ERROR', code: '08006' })).toBe(true);
    expect(isConnectionGone({ severity: 'ERROR', code: '42P01' })).toBe(false);
    expect(isConnectionGone(null)).toBe(false);
  });

  it('recognises refused logins by SQLSTATE', () => {
    expect(isLoginRejected({ code: '28P01' })).toBe(true);
    expect(isLoginRejected({ code: '28000' })).toBe(true);
    expect(isLoginRejected({ code: '57P01' })).toBe(false);
  });

  it("recognises PgBouncer's refusals, sent as protocol violations, by their wording", () => {
    expect(isLoginRejected({ code: '08P01', message: 'SASL authentication failed' })).toBe(true);
    expect(isLoginRejected({ code: '08P01', message: 'password authentication failed' })).toBe(true);
    expect(isLoginRejected({ code: '08P01', message: 'no such user' })).toBe(true);
    // Other protocol violations, and the wording under another code, are not refused logins.
    expect(isLoginRejected({ code: '08P01', message: 'client password pkt before startup packet' })).toBe(false);
    expect(isLoginRejected({ code: '42P01', message: 'no such user' })).toBe(false);
    expect(isLoginRejected({ message: 'SASL authentication failed' })).toBe(false);
  });
});
