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
});
