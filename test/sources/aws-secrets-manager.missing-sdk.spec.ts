import { jest } from '@jest/globals';

// As in an app that never installed the optional peer: loading it fails.
jest.unstable_mockModule('@aws-sdk/client-secrets-manager', () => {
  throw Object.assign(new Error("Cannot find package '@aws-sdk/client-secrets-manager'"), { code: 'ERR_MODULE_NOT_FOUND' });
});
const { AwsSecretsManagerSource } = await import('../../lib/aws/index.js');

describe('AwsSecretsManagerSource without @aws-sdk/client-secrets-manager', () => {
  it('loads the package without the AWS SDK, and the first read says what to install', async () => {
    const source = new AwsSecretsManagerSource({ secretId: 'orders/db', clientConfig: { region: 'us-east-1', endpoint: 'http://127.0.0.1:9' } });
    const error = await source.fetch(new AbortController().signal).then(
      () => new Error('resolved'),
      (failure: Error) => failure,
    );
    expect(error.name).toBe('SecretSourceError');
    expect(error.message).toMatch(/needs @aws-sdk\/client-secrets-manager.*Install it \(npm i @aws-sdk\/client-secrets-manager\)/);
    await expect(source.connectionTarget({ timeoutMs: 5_000 })).rejects.toThrow(/npm i @aws-sdk\/client-secrets-manager/);
  });
});
