import { jest } from '@jest/globals';
import type { TestPostgres } from '../support/postgres.js';

// An app without the optional peer: importing it fails as Node fails on a missing package.
jest.unstable_mockModule('@aws-sdk/rds-signer', () => {
  throw Object.assign(new Error("Cannot find package '@aws-sdk/rds-signer'"), { code: 'ERR_MODULE_NOT_FOUND' });
});
const { AwsRdsIamSource } = await import('../../lib/sources/aws-rds-iam.source.js');
const { bootPool } = await import('../support/harness.js');

describe('AwsRdsIamSource without @aws-sdk/rds-signer installed', () => {
  const options = { hostname: '127.0.0.1', port: 5432, username: 'app', region: 'eu-west-1', credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake-secret' } };

  it('says what to install, on fetch and when the module boots', async () => {
    const source = new AwsRdsIamSource(options);
    await expect(source.fetch(new AbortController().signal)).rejects.toThrow(/needs @aws-sdk\/rds-signer, which is not installed: npm i @aws-sdk\/rds-signer/);
    // Nothing is connected to: the first secret already fails, before any login.
    const nowhere = { host: '127.0.0.1', port: 9 } as TestPostgres;
    await expect(bootPool(nowhere, { source, ssl: true })).rejects.toThrow(/npm i @aws-sdk\/rds-signer/);
  });
});
