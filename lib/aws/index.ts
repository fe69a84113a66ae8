/**
 * `nestjs-entra-pg/aws`: the AWS secret sources, apart from the main entry because most apps use
 * neither. Each loads its AWS SDK package (an optional peer) on first use.
 */
export { AwsRdsIamSource, type AwsRdsIamCredentials, type AwsRdsIamCredentialsProvider, type AwsRdsIamSourceOptions } from '../sources/aws-rds-iam.source.js';
export {
  AwsSecretsManagerSource,
  type AwsSecretsManagerClient,
  type AwsSecretsManagerClientConfig,
  type AwsSecretsManagerConnectionTarget,
  type AwsSecretsManagerCredentials,
  type AwsSecretsManagerSourceOptions,
} from '../sources/aws-secrets-manager.source.js';
