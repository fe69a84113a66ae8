import { loadOptionalPeer } from '../common/optional-peer.js';
import { printAs } from '../common/print-as.js';
import type { PgSecret, PgSecretSource } from './pg-secret-source.interface.js';
import { SecretSourceError } from './secret-source.error.js';

/**
 * AWS credentials as the AWS SDK hands them out (`AwsCredentialIdentity`), declared here so that
 * apps without the AWS SDK never need its types. Temporary credentials carry `expiration`.
 */
export interface AwsRdsIamCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** An AWS SDK credential provider (`AwsCredentialIdentityProvider`): `fromNodeProviderChain()`, `fromTemporaryCredentials(…)`. */
export type AwsRdsIamCredentialsProvider = (properties?: { forceRefresh?: boolean }) => Promise<AwsRdsIamCredentials>;

export interface AwsRdsIamSourceOptions {
  /** The RDS endpoint the pool connects to (the `host` option); the token is signed for this name and port. */
  hostname: string;
  /** Default 5432. */
  port?: number;
  /** The database role, granted `rds_iam`; the IAM policy allows `rds-db:connect` for it. */
  username: string;
  /** Default: AWS_REGION. */
  region?: string;
  /** Default: the AWS SDK's credential provider chain (`fromNodeProviderChain()`), created once. */
  credentials?: AwsRdsIamCredentials | AwsRdsIamCredentialsProvider;
}

type SignerModule = typeof import('@aws-sdk/rds-signer');

const INSTALL_HINT = 'npm i @aws-sdk/rds-signer';

/**
 * AWS RDS IAM authentication tokens as passwords, from `@aws-sdk/rds-signer` (an optional peer,
 * loaded on the first fetch). A token is a SigV4 presigned URL signed locally with the AWS
 * credentials; it is good for new logins for 15 minutes, or until the credentials that signed it
 * expire if that is sooner. RDS accepts it only over TLS.
 */
export class AwsRdsIamSource implements PgSecretSource {
  readonly label = 'RDS IAM token';
  readonly requiresTls = true;
  readonly description: string;
  private readonly hostname: string;
  private readonly port: number;
  private readonly username: string;
  private readonly region: string;
  // #private: invisible to util.inspect and JSON even without printAs below (static keys are secrets).
  readonly #credentials: AwsRdsIamCredentials | AwsRdsIamCredentialsProvider | undefined;
  #modules: Promise<{ signer: SignerModule; provider: AwsRdsIamCredentialsProvider }> | undefined;

  constructor(options: AwsRdsIamSourceOptions) {
    const problem = (what: string) => new SecretSourceError(`AwsRdsIamSource: ${what}`);
    if (typeof options?.hostname !== 'string' || options.hostname.trim() === '') {
      throw problem('`hostname` must be the RDS endpoint the pool connects to.');
    }
    if (typeof options.username !== 'string' || options.username.trim() === '') {
      throw problem('`username` must be the database role that logs in with IAM (granted rds_iam).');
    }
    const port = options.port ?? 5432;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw problem('`port` must be an integer from 1 to 65535.');
    const region = options.region ?? process.env.AWS_REGION;
    if (typeof region !== 'string' || region.trim() === '') {
      throw problem('no region: set the `region` option or AWS_REGION to the database\'s region.');
    }
    this.hostname = options.hostname;
    this.port = port;
    this.username = options.username;
    this.region = region;
    this.#credentials = options.credentials;
    const from = options.credentials === undefined ? 'the AWS credential provider chain' : 'the given AWS credentials';
    this.description = `RDS IAM signer for ${this.username}@${this.hostname}:${this.port} (${this.region}, ${from})`;
  }

  async fetch(signal: AbortSignal): Promise<PgSecret> {
    signal.throwIfAborted();
    const { signer, provider } = await untilAborted(this.modules(), signal);
    signal.throwIfAborted();
    // A provider may hang (a metadata endpoint that never answers): the refresher's timeout aborts
    // `signal` and whatever the provider answers later is dropped.
    const credentials = await untilAborted(Promise.resolve(provider()), signal);
    if (
      typeof credentials?.accessKeyId !== 'string' ||
      credentials.accessKeyId === '' ||
      typeof credentials.secretAccessKey !== 'string' ||
      credentials.secretAccessKey === ''
    ) {
      throw new SecretSourceError(`${this.description}: the AWS credential provider returned no accessKeyId and secretAccessKey.`);
    }
    // Static credentials: the signer itself does no I/O, so nothing but our own provider call can hang.
    const token = await untilAborted(
      new signer.Signer({
        hostname: this.hostname,
        port: this.port,
        username: this.username,
        region: this.region,
        credentials: {
          accessKeyId: credentials.accessKeyId,
          secretAccessKey: credentials.secretAccessKey,
          sessionToken: credentials.sessionToken,
        },
      }).getAuthToken(),
      signal,
    );
    const signedUntil = tokenExpiry(token);
    if (signedUntil === undefined) {
      throw new SecretSourceError(`${this.description}: the signer returned a token without a valid X-Amz-Date and X-Amz-Expires.`);
    }
    // A presigned URL stops working when the temporary credentials that signed it expire.
    const credentialsUntil = credentials.expiration instanceof Date ? credentials.expiration.getTime() : Number.NaN;
    const expiresAt = Number.isFinite(credentialsUntil) ? Math.min(signedUntil, credentialsUntil) : signedUntil;
    return { user: this.username, password: token, expiresAt: new Date(expiresAt) };
  }

  /** Loads the signer (and, without `credentials`, builds the provider chain) once; a failure is tried again next time. */
  private modules(): Promise<{ signer: SignerModule; provider: AwsRdsIamCredentialsProvider }> {
    if (this.#modules === undefined) {
      const loading = this.load();
      this.#modules = loading;
      loading.catch(() => {
        if (this.#modules === loading) this.#modules = undefined;
      });
    }
    return this.#modules;
  }

  private async load(): Promise<{ signer: SignerModule; provider: AwsRdsIamCredentialsProvider }> {
    const signer: SignerModule = await loadOptionalPeer(
      () => import('@aws-sdk/rds-signer'),
      (cause) => new SecretSourceError(`AwsRdsIamSource needs @aws-sdk/rds-signer, which is not installed: ${INSTALL_HINT}.`, { cause }),
    );
    const given = this.#credentials;
    if (typeof given === 'function') return { signer, provider: given };
    if (given !== undefined) return { signer, provider: () => Promise.resolve(given) };
    // The chain @aws-sdk/rds-signer itself uses (its own dependency); one instance, so it caches.
    const chain = await loadOptionalPeer(
      () => import('@aws-sdk/credential-providers'),
      (cause) =>
        new SecretSourceError(
          `AwsRdsIamSource uses the AWS credential provider chain from @aws-sdk/credential-providers (installed with ${INSTALL_HINT}), ` +
            'which cannot be loaded: install it next to @aws-sdk/rds-signer, or pass `credentials`.',
          { cause },
        ),
    );
    return { signer, provider: chain.fromNodeProviderChain() };
  }
}

/** `work`, or the signal's reason as soon as it aborts; a later answer (or failure) of `work` is dropped. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}

/** When new logins with `token` stop working: its X-Amz-Date plus X-Amz-Expires; undefined when unreadable. */
function tokenExpiry(token: string): number | undefined {
  let query: URLSearchParams;
  try {
    query = new URL(`https://${token}`).searchParams;
  } catch {
    return undefined;
  }
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(query.get('X-Amz-Date') ?? '');
  const lifetime = Number(query.get('X-Amz-Expires'));
  if (!date || !Number.isInteger(lifetime) || lifetime <= 0) return undefined;
  const [, year, month, day, hour, minute, second] = date.map(Number);
  const signedAt = Date.UTC(year!, month! - 1, day!, hour!, minute!, second!);
  return Number.isFinite(signedAt) ? signedAt + lifetime * 1000 : undefined;
}

// Static credentials are secret: print what the source is, not what it holds.
printAs(AwsRdsIamSource, (source) => ({ label: source.label, description: source.description }));
