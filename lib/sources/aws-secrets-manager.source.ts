import { MAX_TIMER_MS } from '../refresh/refresh-schedule.js';
import { loadOptionalPeer } from '../common/optional-peer.js';
import { printAs } from '../common/print-as.js';
import type { PgSecret, PgSecretSource } from './pg-secret-source.interface.js';
import { SecretSourceError } from './secret-source.error.js';

/** AWS credentials as the AWS SDK takes them, declared here so apps without the AWS SDK never need its types. */
export interface AwsSecretsManagerCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/**
 * The part of a `SecretsManagerClient` this source uses. Any `new SecretsManagerClient(…)` fits;
 * declared here so the package's types do not depend on the optional AWS SDK.
 */
export interface AwsSecretsManagerClient {
  send(command: object, options?: { abortSignal?: AbortSignal }): Promise<object>;
}

/** Settings for the `SecretsManagerClient` the source creates when no `client` is given. */
export interface AwsSecretsManagerClientConfig {
  /** Default: the AWS SDK's (AWS_REGION, the shared config file). */
  region?: string;
  /** A VPC endpoint or a local stand-in; default: the region's Secrets Manager endpoint. */
  endpoint?: string;
  /** Default: the AWS SDK's credential provider chain. */
  credentials?: AwsSecretsManagerCredentials | (() => Promise<AwsSecretsManagerCredentials>);
  /** Attempts per request, the first included. Default: the AWS SDK's (3). */
  maxAttempts?: number;
}

export interface AwsSecretsManagerSourceOptions {
  /** The secret's name or ARN. */
  secretId: string;
  /** Default `AWSCURRENT`: the version rotation last promoted. */
  versionStage?: string;
  /** A client of your own (shared retry, proxy or credential settings). Exclusive with `clientConfig`. */
  client?: AwsSecretsManagerClient;
  /** Settings for the client the source creates on first use. */
  clientConfig?: AwsSecretsManagerClientConfig;
}

/** Where the secret says the database is: the keys RDS rotation writes, those present. */
export interface AwsSecretsManagerConnectionTarget {
  host?: string;
  port?: number;
  database?: string;
}

/** The secret JSON as RDS and Secrets Manager's rotation functions write it. */
interface RdsSecret {
  username: string;
  password: string;
  host?: string;
  port?: number;
  dbname?: string;
}

type SdkModule = typeof import('@aws-sdk/client-secrets-manager');

const SDK_PACKAGE = '@aws-sdk/client-secrets-manager';
const DEFAULT_TARGET_TIMEOUT_MS = 30_000;

/**
 * Passwords from an AWS Secrets Manager secret (the JSON RDS rotation writes: `username`,
 * `password`, and `host`, `port`, `dbname`, `engine` when present), through
 * `@aws-sdk/client-secrets-manager` (an optional peer, loaded on first use). The secret carries no
 * expiry: the pool reads it again every `refresh.intervalMs`, and at once after PostgreSQL refuses
 * a login, because the rotation may just have happened. A new `username` (alternating-users
 * rotation) moves new logins to a new pool while the old one drains.
 */
export class AwsSecretsManagerSource implements PgSecretSource {
  readonly label = 'Secrets Manager secret';
  readonly description: string;
  private readonly secretId: string;
  private readonly versionStage: string;
  // #private: invisible to util.inspect and JSON even without printAs below (static keys are secrets).
  readonly #clientConfig: AwsSecretsManagerClientConfig | undefined;
  #client: AwsSecretsManagerClient | undefined;
  #sdk: Promise<SdkModule> | undefined;

  constructor(options: AwsSecretsManagerSourceOptions) {
    const problem = (what: string) => new SecretSourceError(`AwsSecretsManagerSource: ${what}`);
    if (typeof options?.secretId !== 'string' || options.secretId.trim() === '') {
      throw problem('`secretId` must be the secret\'s name or ARN.');
    }
    if (options.versionStage !== undefined && (typeof options.versionStage !== 'string' || options.versionStage.trim() === '')) {
      throw problem('`versionStage` must be a staging label such as AWSCURRENT, or left out.');
    }
    if (options.client !== undefined && options.clientConfig !== undefined) {
      throw problem('give either `client` or `clientConfig`, not both: set region, endpoint and credentials on your client.');
    }
    if (options.client !== undefined && typeof options.client?.send !== 'function') {
      throw problem('`client` must be a SecretsManagerClient from @aws-sdk/client-secrets-manager.');
    }
    this.secretId = options.secretId;
    this.versionStage = options.versionStage ?? 'AWSCURRENT';
    this.#client = options.client;
    this.#clientConfig = options.clientConfig;
    this.description = `Secrets Manager secret ${this.secretId} (${this.versionStage})`;
  }

  async fetch(signal: AbortSignal): Promise<PgSecret> {
    const secret = await this.read(signal);
    return { user: secret.username, password: secret.password };
  }

  /**
   * The host, port and database the secret names (RDS rotation writes them), for
   * `forRootAsync`'s useFactory: `{ ...(await source.connectionTarget()), source }`. Keys the secret
   * lacks are left out, so the module's defaults and PGHOST/PGPORT/PGDATABASE still apply.
   */
  async connectionTarget(options: { timeoutMs?: number } = {}): Promise<AwsSecretsManagerConnectionTarget> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TARGET_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new SecretSourceError('AwsSecretsManagerSource.connectionTarget: `timeoutMs` must be a positive number of milliseconds.');
    }
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new SecretSourceError(`${this.description} did not answer within ${timeoutMs} ms (connectionTarget timeoutMs).`);
        controller.abort(error);
        reject(error);
      }, Math.min(timeoutMs, MAX_TIMER_MS));
    });
    try {
      const secret = await Promise.race([this.read(controller.signal), timedOut]);
      return {
        ...(secret.host === undefined ? {} : { host: secret.host }),
        ...(secret.port === undefined ? {} : { port: secret.port }),
        ...(secret.dbname === undefined ? {} : { database: secret.dbname }),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  private async read(signal: AbortSignal): Promise<RdsSecret> {
    signal.throwIfAborted();
    const sdk = await this.sdk();
    signal.throwIfAborted();
    this.#client ??= new sdk.SecretsManagerClient({ ...this.#clientConfig });
    const command = new sdk.GetSecretValueCommand({ SecretId: this.secretId, VersionStage: this.versionStage });
    let answer: { SecretString?: unknown; SecretBinary?: unknown };
    try {
      answer = await this.#client.send(command, { abortSignal: signal });
    } catch (error) {
      if (signal.aborted) throw error;
      throw this.requestError(error);
    }
    return this.parse(answer);
  }

  private sdk(): Promise<SdkModule> {
    this.#sdk ??= loadOptionalPeer(
      () => import('@aws-sdk/client-secrets-manager'),
      (cause) => {
        // Not cached: a failed load is tried again on the next read.
        this.#sdk = undefined;
        return new SecretSourceError(`AwsSecretsManagerSource needs ${SDK_PACKAGE}, which could not be loaded. Install it (npm i ${SDK_PACKAGE}).`, {
          cause,
        });
      },
    );
    return this.#sdk;
  }

  /**
   * AWS's own error names say what to fix (AccessDeniedException, ResourceNotFoundException). The
   * SDK's error is not kept as the cause: it carries the raw HTTP response ($response), and an
   * answer the SDK could not parse may be the secret.
   */
  private requestError(error: unknown): Error {
    const name = (error as { name?: unknown } | null)?.name;
    const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
    const hint: Record<string, string> = {
      ResourceNotFoundException: 'check `secretId` and the region, and that the version stage exists',
      AccessDeniedException: 'allow secretsmanager:GetSecretValue on the secret (and kms:Decrypt on its key) to the app\'s IAM role',
      DecryptionFailure: 'allow kms:Decrypt on the secret\'s KMS key to the app\'s IAM role',
    };
    if (typeof name === 'string' && Object.hasOwn(hint, name)) {
      return new SecretSourceError(`${this.description}: GetSecretValue failed with ${name}: ${hint[name]}.`);
    }
    // Anything else (network, throttling, 5xx, an unparsable answer) is the source failing: the
    // refresher backs off and retries. A parser's message quotes the text it choked on, which may
    // be the secret: for an answer that arrived (2xx) or did not parse, only the error's name.
    const http = typeof status === 'number' ? ` (HTTP ${status})` : '';
    const parsing = (typeof status === 'number' && status >= 200 && status < 300) || name === 'SyntaxError';
    const what = parsing
      ? `the answer could not be read (${String(name)})`
      : error instanceof Error
        ? `${error.name}: ${error.message}`
        : 'unknown error';
    return new Error(`${this.description}: GetSecretValue failed${http}: ${what}`);
  }

  /** Says which key is missing or wrong, never what the secret holds. */
  private parse(answer: { SecretString?: unknown; SecretBinary?: unknown }): RdsSecret {
    const bad = (what: string) =>
      new SecretSourceError(
        `${this.description} ${what}; it must be JSON text with "username" and "password" (and optionally "host", "port", "dbname"), as RDS rotation writes it.`,
      );
    if (typeof answer?.SecretString !== 'string') {
      throw bad(answer?.SecretBinary !== undefined ? 'holds binary data (SecretBinary), not text' : 'has no SecretString');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.SecretString);
    } catch {
      // The parser's message quotes the text around the error: the secret itself.
      throw bad('is not valid JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad('is not a JSON object');
    const json = parsed as Record<string, unknown>;
    const text = (key: string, required: boolean): string | undefined => {
      const value = json[key];
      if (value === undefined || value === null) {
        if (required) throw bad(`has no "${key}" key`);
        return undefined;
      }
      if (typeof value !== 'string' || value === '') throw bad(`has a "${key}" that is not a non-empty string`);
      return value;
    };
    const username = text('username', true)!;
    const password = text('password', true)!;
    const host = text('host', false);
    const dbname = text('dbname', false);
    // RDS writes the port as a number; hand-made secrets often hold a string.
    const rawPort = json.port;
    let port: number | undefined;
    if (rawPort !== undefined && rawPort !== null) {
      port = typeof rawPort === 'string' && /^\d+$/.test(rawPort) ? Number(rawPort) : rawPort as number;
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('has a "port" that is not a port number (1 to 65535)');
    }
    if (json.engine !== undefined && json.engine !== null && !/postgres/i.test(String(json.engine))) {
      throw bad('is for another database engine (its "engine" is not postgres)');
    }
    return { username, password, host, port, dbname };
  }
}

// It may hold static AWS keys: print what it reads, not what it holds.
printAs(AwsSecretsManagerSource, (source) => ({ label: source.label, description: source.description }));
