import { AwsRdsIamSource } from 'nestjs-entra-pg/aws';

// An app on RDS IAM imports its source from the subpath. This app did not install the optional
// @aws-sdk/rds-signer, so the first fetch says what to install (nothing is signed or sent).
describe('nestjs-entra-pg/aws', () => {
  it('gives AwsRdsIamSource, which names the package it needs', async () => {
    const source = new AwsRdsIamSource({
      hostname: 'orders.abc123xyz.eu-west-1.rds.amazonaws.com',
      username: 'orders_app',
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'not-a-secret' },
    });
    await expect(source.fetch(new AbortController().signal)).rejects.toThrow(/npm i @aws-sdk\/rds-signer/);
  });
});
