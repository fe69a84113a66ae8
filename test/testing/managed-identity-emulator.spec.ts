import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from 'node:net';
import { ManagedIdentityEmulator } from '../../lib/testing/index.js';

const authority = { getToken: async () => ({ token: 'local-token', expiresOnTimestamp: Date.now() + 60_000 }) };

/** Sends raw bytes and returns the status code of the answer, or 'closed' if the server just hung up. Bounded. */
function raw(port: number, ...chunks: string[]): Promise<number | 'closed'> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; got ${JSON.stringify(received.slice(0, 80))}`));
    }, 10_000);
    socket.on('data', (data) => {
      received += data.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received);
      resolve(status ? Number(status[1]) : 'closed');
    });
    for (const chunk of chunks) socket.write(chunk);
  });
}

describe('ManagedIdentityEmulator survives any request', () => {
  let emulator: ManagedIdentityEmulator;
  let port: number;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    emulator = await ManagedIdentityEmulator.start({ authority, requestTimeoutMs: 300 });
    port = Number(new URL(emulator.endpoint).port);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await emulator.close();
  });
  /** Still serving, and nothing escaped as an unhandled rejection. */
  async function expectStillServing(): Promise<void> {
    const ok = await fetch(`${emulator.endpoint}?resource=https://ossrdbms-aad.database.windows.net`, {
      headers: { 'x-identity-header': emulator.identityHeader },
    });
    expect(ok.status).toBe(200);
    expect(rejections).toEqual([]);
  }

  const close = 'Host: 127.0.0.1\r\nConnection: close\r\n\r\n';

  it.each([
    ['GET //', `GET // HTTP/1.1\r\n${close}`, 400],
    ['GET //evil.example/msi/token', `GET //evil.example/msi/token?resource=r HTTP/1.1\r\n${close}`, 400],
    ['an absolute-form URL', `GET http://127.0.0.1/msi/token?resource=r HTTP/1.1\r\n${close}`, 400],
    ['an asterisk-form target', `OPTIONS * HTTP/1.1\r\n${close}`, 400],
    ['a bad percent-encoding', `GET /msi/token?resource=%E0%A4%A HTTP/1.1\r\n${close}`, 401],
    ['another path', `GET /metadata/identity HTTP/1.1\r\n${close}`, 404],
    ['a POST', `POST /msi/token HTTP/1.1\r\nContent-Length: 0\r\n${close}`, 404],
    ['a malformed request line', `GARBAGE\r\n\r\n`, 400],
    ['a header without a colon', `GET /msi/token HTTP/1.1\r\nnocolon\r\n\r\n`, 400],
    ['huge headers', `GET /msi/token HTTP/1.1\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n${close}`, 431],
  ])('answers %s with a 4xx', async (_what, request, status) => {
    expect(await raw(port, request)).toBe(status);
    await expectStillServing();
  });

  it('answers a client that never finishes its headers with a 408', async () => {
    expect(await raw(port, 'GET /msi/token HTTP/1.1\r\nHost: 127.0.0.1\r\n')).toBe(408);
    await expectStillServing();
  });

  it('rejects a wrong, longer or missing header, accepts the right one', async () => {
    const url = `${emulator.endpoint}?resource=r`;
    expect((await fetch(url, { headers: { 'x-identity-header': 'wrong' } })).status).toBe(401);
    expect((await fetch(url, { headers: { 'x-identity-header': `${emulator.identityHeader}x` } })).status).toBe(401);
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { 'x-identity-header': emulator.identityHeader } })).status).toBe(200);
  });
});

describe('ManagedIdentityEmulator outside development', () => {
  const saved = process.env.NODE_ENV;
  afterEach(() => {
    process.env.NODE_ENV = saved;
  });

  it.each(['production', 'PRODUCTION', ' prod', 'staging'])('refuses to start with NODE_ENV=%j', async (value) => {
    process.env.NODE_ENV = value;
    await expect(ManagedIdentityEmulator.start({ authority })).rejects.toThrow(/refuses to start with NODE_ENV/);
  });

  it('starts in production only when told to', async () => {
    process.env.NODE_ENV = 'production';
    const emulator = await ManagedIdentityEmulator.start({ authority, allowInProduction: true });
    expect(emulator.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/msi\/token$/);
    await emulator.close();
  });
});
