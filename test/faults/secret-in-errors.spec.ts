import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { AuthenticationError } from '@azure/identity';
import { ConsoleLogger, Controller, Get, Inject, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type pg from 'pg';
import { inspect } from 'node:util';
import { EntraPgCredentialError, EntraPgModule, PG_POOL } from '../../lib/index.js';
import { createTestToken } from '../../lib/testing/index.js';

const TOKEN = createTestToken({ upn: 'leaky@contoso.com' }, new Date(Date.now() + 3_600_000));
// The same token as a service might wrap it in a body: split across lines.
const WRAPPED = `${TOKEN.slice(0, 40)}\n${TOKEN.slice(40, 90)}\r\n${TOKEN.slice(90)}`;
const PIECES = [TOKEN.slice(0, 40), TOKEN.slice(40, 90), TOKEN.slice(90)];

/**
 * A credential that fails the way @azure/identity does on a non-JSON body: the body (here holding
 * a token) is echoed in the message and kept in `errorResponse`; the cause holds it split by lines.
 */
const leakyCredential = {
  getToken: async () => {
    const error = new AuthenticationError(500, `upstream said: access_token=${TOKEN}`);
    Object.assign(error, { body: { raw: WRAPPED, nested: { deeper: [TOKEN] } } });
    (error as { cause?: unknown }).cause = new Error(`proxy echoed ${WRAPPED}`);
    throw error;
  },
};

function expectNoToken(text: string): void {
  expect(text.length).toBeGreaterThan(0);
  expect(text).not.toContain(TOKEN);
  for (const piece of PIECES) expect(text).not.toContain(piece);
}

describe('no secret in what Nest prints for our errors, causes included', () => {
  let output: string[];
  beforeEach(() => {
    output = [];
    const capture = (chunk: unknown) => {
      output.push(String(chunk));
      return true;
    };
    jest.spyOn(process.stdout, 'write').mockImplementation(capture);
    jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it.each([
    ['text', {}],
    ['json', { json: true }],
  ])('a failed bootstrap printed by Nest’s ExceptionHandler (%s logger) holds no token', async (_kind, loggerOptions) => {
    @Module({ imports: [EntraPgModule.forRoot({ host: '127.0.0.1', port: 1, credential: leakyCredential, retryAttempts: 0 })] })
    class BootModule {}
    const failure = await NestFactory.createApplicationContext(BootModule, {
      logger: new ConsoleLogger({ colors: false, ...loggerOptions }),
      abortOnError: false,
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(output.join('')).toMatch(/ExceptionHandler/);
    expectNoToken(output.join(''));
    // The whole chain, as deep as anyone would print it, and the cause's class survives.
    expectNoToken(inspect(failure, { depth: Infinity, showHidden: true }));
    const credentialError = (failure as Error).cause;
    expect(credentialError).toBeInstanceOf(EntraPgCredentialError);
    expect((credentialError as Error).cause).toBeInstanceOf(AuthenticationError);
    expect(JSON.stringify((credentialError as Error).cause)).toMatch(/redacted token/);
  });

  it('an error rendered by Nest’s BaseExceptionFilter holds no token', async () => {
    @Controller()
    class ProbeController {
      constructor(@Inject(PG_POOL) private readonly pool: pg.Pool) {}
      @Get('probe')
      probe() {
        return this.pool.query('SELECT 1');
      }
    }
    @Module({
      imports: [EntraPgModule.forRoot({ host: '127.0.0.1', port: 1, credential: leakyCredential, lazyConnect: true })],
      controllers: [ProbeController],
    })
    class HttpModule {}
    const app = await NestFactory.create(HttpModule, { logger: new ConsoleLogger({ colors: false }), abortOnError: false });
    await app.listen(0, '127.0.0.1');
    try {
      const response = await fetch(`${await app.getUrl()}/probe`);
      expect(response.status).toBe(500);
      expectNoToken(await response.text());
      expect(output.join('')).toMatch(/ExceptionsHandler/);
      expectNoToken(output.join(''));
    } finally {
      await app.close();
    }
  });
});
