import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AwsRdsIamCredentials } from '../../lib/aws/index.js';
import type { TokenGrant } from '../../lib/testing/index.js';

/** How far in the future a token's X-Amz-Date may be, as AWS allows for clock skew. */
const CLOCK_SKEW_MS = 5 * 60_000;

interface IssuedKey extends AwsRdsIamCredentials {
  readonly expiration: Date | undefined;
}

/**
 * What AWS does for RDS IAM, on loopback: issues fake AWS credentials (long-term keys, or temporary
 * ones with a session token and an expiry, as STS does) and checks RDS IAM tokens the way RDS does
 * at login, without the AWS SDK: parses the presigned URL, checks that it is for this endpoint and
 * the login user (Action=connect, DBUser), that neither its own X-Amz-Expires nor the credentials
 * that signed it have run out, and recomputes the SigV4 signature with the issued secret key.
 * Plug `verify` into LocalEntraLogin's `verify` option.
 */
export class LocalRdsIamAuthority {
  /** Credentials handed out, in order. */
  readonly issued: IssuedKey[] = [];
  /** Why tokens were refused, in order (never the token). */
  readonly refusals: string[] = [];
  private readonly keys = new Map<string, IssuedKey>();

  constructor(
    private readonly endpoint: { hostname: string; port: number; region: string },
  ) {}

  /** Long-term credentials (an IAM user's access key): no expiry. */
  staticCredentials(): AwsRdsIamCredentials {
    return this.issue(undefined);
  }

  /** Temporary credentials that expire `lifetimeMs` from now, as STS AssumeRole hands out. */
  temporaryCredentials(lifetimeMs: number): AwsRdsIamCredentials {
    return this.issue(new Date(Date.now() + lifetimeMs));
  }

  /** Every secret this authority has handed out, for `logs.assertNoSecrets`. */
  secrets(): string[] {
    return this.issued.flatMap((key) => [key.secretAccessKey, key.sessionToken ?? '']);
  }

  /** What `token` is good for when it is a valid RDS IAM token for `user`; undefined (and a refusal noted) otherwise. */
  async verify(token: string, user: string): Promise<TokenGrant | undefined> {
    const problem = this.problem(token, user);
    if (typeof problem === 'string') {
      this.refusals.push(problem);
      return undefined;
    }
    return { user, expiresOnTimestamp: problem.expiresAt, issuer: 'local-rds-iam' };
  }

  private issue(expiration: Date | undefined): IssuedKey {
    const key: IssuedKey = {
      accessKeyId: `${expiration ? 'ASIA' : 'AKIA'}${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: expiration ? randomBytes(48).toString('base64') : undefined,
      expiration,
    };
    this.issued.push(key);
    this.keys.set(key.accessKeyId, key);
    return key;
  }

  private problem(token: string, user: string): string | { expiresAt: number } {
    let url: URL;
    try {
      url = new URL(`https://${token}`);
    } catch {
      return 'not a presigned URL';
    }
    const { hostname, port, region } = this.endpoint;
    if (url.host !== `${hostname}:${port}` || url.pathname !== '/') return 'signed for another endpoint';
    const query = url.searchParams;
    const get = (name: string) => query.get(name) ?? '';
    if (get('Action') !== 'connect') return 'Action is not connect';
    if (get('DBUser') !== user) return 'DBUser is not the login user';
    if (get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return 'not SigV4';
    if (get('X-Amz-SignedHeaders') !== 'host') return 'the host header is not signed';
    const [accessKeyId, day, scopeRegion, service, terminator, ...extra] = get('X-Amz-Credential').split('/');
    const key = this.keys.get(accessKeyId ?? '');
    if (!key) return 'unknown access key';
    if (scopeRegion !== region || service !== 'rds-db' || terminator !== 'aws4_request' || extra.length > 0) return 'wrong credential scope';
    if ((key.sessionToken ?? '') !== get('X-Amz-Security-Token')) return 'wrong session token';
    const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(get('X-Amz-Date'));
    if (!date || date[0].slice(0, 8) !== day) return 'bad X-Amz-Date';
    const [, y, mo, d, h, mi, s] = date.map(Number);
    const signedAt = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
    const lifetimeSeconds = Number(get('X-Amz-Expires'));
    if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds <= 0 || lifetimeSeconds > 900) return 'bad X-Amz-Expires';
    const now = Date.now();
    if (signedAt > now + CLOCK_SKEW_MS) return 'signed in the future';
    const expiresAt = Math.min(signedAt + lifetimeSeconds * 1000, key.expiration?.getTime() ?? Number.POSITIVE_INFINITY);
    if (now >= signedAt + lifetimeSeconds * 1000) return 'token expired';
    if (key.expiration && now >= key.expiration.getTime()) return 'the signing credentials expired';
    const expected = Buffer.from(signature(url, key.secretAccessKey, region));
    const given = Buffer.from(get('X-Amz-Signature'));
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'signature mismatch';
    return { expiresAt };
  }
}

/** SigV4 of a presigned GET (query authentication, only `host` signed, empty payload), from the AWS documentation. */
function signature(url: URL, secretAccessKey: string, region: string): string {
  const query = [...url.searchParams]
    .filter(([name]) => name !== 'X-Amz-Signature')
    .map(([name, value]) => [uriEncode(name), uriEncode(value)])
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
  const canonicalRequest = ['GET', '/', query, `host:${url.host}`, '', 'host', sha256('')].join('\n');
  const amzDate = url.searchParams.get('X-Amz-Date')!;
  const scope = `${amzDate.slice(0, 8)}/${region}/rds-db/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
  let signingKey = hmac(`AWS4${secretAccessKey}`, amzDate.slice(0, 8));
  for (const part of [region, 'rds-db', 'aws4_request']) signingKey = hmac(signingKey, part);
  return createHmac('sha256', signingKey).update(stringToSign).digest('hex');
}

/** RFC 3986 percent-encoding, as SigV4 wants it. */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
