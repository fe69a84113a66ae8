import { describe, expect, it } from '@jest/globals';
import {
  EntraPgConfigError,
  EntraPgCredentialError,
  EntraPgError,
  type EntraPgErrorCode,
  EntraPgLoginRefusedError,
  EntraPgShutdownError,
} from '../lib/index.js';

describe('every error carries a machine-readable code', () => {
  it.each([
    [new EntraPgError('m', 'orders'), 'ENTRA_PG_CONNECT_FAILED'],
    [new EntraPgConfigError('m', 'orders'), 'ENTRA_PG_CONFIG'],
    [new EntraPgCredentialError('m', 'orders'), 'ENTRA_PG_CREDENTIAL'],
    [new EntraPgShutdownError('m', 'orders'), 'ENTRA_PG_SHUTDOWN'],
    [new EntraPgLoginRefusedError('m', 'orders', '28P01'), 'ENTRA_PG_LOGIN_REFUSED'],
  ] as Array<[EntraPgError, EntraPgErrorCode]>)('%s has code %s, its name and the connection', (error, code) => {
    expect(error.code).toBe(code);
    expect(error.name).toBe(error.constructor.name);
    expect(error.connectionName).toBe('orders');
    // Codes survive serialization, which `instanceof` does not (logs, a second copy of the package).
    expect(JSON.parse(JSON.stringify(error))).toMatchObject({ code, connectionName: 'orders' });
  });

  it("keeps the server's SQLSTATE apart from the code", () => {
    expect(new EntraPgLoginRefusedError('m', 'orders', '28000')).toMatchObject({ code: 'ENTRA_PG_LOGIN_REFUSED', sqlState: '28000' });
  });
});
