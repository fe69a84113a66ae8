import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { EntraPgCredentialError, EntraPgModule } from '../../lib/index.js';
import { createTestToken } from '../../lib/testing/index.js';
import { FakePostgres } from '../support/fake-postgres.js';
import { LogCapture } from '../support/log-capture.js';

let fake: FakePostgres;
beforeAll(async () => {
  fake = await FakePostgres.start();
});
afterAll(() => fake.close());

it('a token whose upn smuggles startup parameters fails clearly and never reaches the server', async () => {
  const logs = LogCapture.install();
  const token = createTestToken({ upn: 'a\u0000options\u0000-c search_path=evil' }, new Date(Date.now() + 3_600_000));
  const credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const failure = await Test.createTestingModule({
    imports: [EntraPgModule.forRoot({ host: '127.0.0.1', port: fake.port, credential, retryAttempts: 0 })],
  })
    .setLogger(logs)
    .compile()
    .then(
      () => undefined,
      (error: unknown) => error as Error,
    );
  expect(failure?.cause).toBeInstanceOf(EntraPgCredentialError);
  expect(failure?.message).toMatch(/upn claim cannot be a PostgreSQL role name: it contains a control or invisible character/);
  expect(fake.receivedText()).not.toMatch(/search_path/);
  expect(fake.connections).toHaveLength(0);
  expect(logs.text()).not.toContain('\u0000');
});
