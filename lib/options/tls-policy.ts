import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';

/** What pg's `ssl` option is given: always explicit, so pg never reads PGSSLMODE on its own. */
export type PgSsl = boolean | ConnectionOptions;

export interface TlsPolicyInput {
  host: string;
  /** The `ssl` option as given in code. */
  ssl: PgSsl | undefined;
  /** The explicit opt-out: allows plaintext or unverified TLS to a host that is not loopback. */
  allowInsecureTransport: boolean | undefined;
  /** PGSSLMODE as found in the environment. */
  sslMode: string | undefined;
}

/** `insecure` says why the secret may travel to a remote host without verified TLS (the app opted out). */
export type TlsDecision = { ok: true; ssl: PgSsl; insecure: string | undefined } | { ok: false; error: string };

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;
type SslMode = (typeof SSL_MODES)[number];

const OPT_OUT =
  'To send it without verified TLS anyway, say so in code: `allowInsecureTransport: true` ' +
  '(with `ssl: false`, `ssl: { rejectUnauthorized: false }` or that PGSSLMODE)';

/**
 * Decides how the secret (an Entra token, a vault secret, a password: always a bearer credential
 * sent as a cleartext password) travels. Fails closed: any host that is not loopback gets TLS that
 * verifies the certificate and the host name, whatever its name (Azure public, sovereign clouds,
 * private endpoints and custom DNS names look alike from here), unless the code opts out.
 * Loopback and Unix sockets need no TLS, so tests and local runs work without certificates.
 */
export function decideTls(input: TlsPolicyInput): TlsDecision {
  const mode = parseSslMode(input.sslMode);
  if (mode === null) {
    return {
      ok: false,
      error:
        `Unknown PGSSLMODE ${JSON.stringify(input.sslMode)}: use one of ${SSL_MODES.join(', ')} ` +
        '(or unset it: TLS is verified by default).',
    };
  }
  const local = isLocalHost(input.host);
  // Code wins over the environment, as in pg; the environment only fills in what code left out.
  const ssl = input.ssl ?? (mode === undefined ? !local : fromSslMode(mode, local));
  const weakness = ssl === false ? 'plaintext' : ssl !== true && ssl.rejectUnauthorized === false ? 'TLS without certificate verification' : undefined;
  if (local || weakness === undefined) return { ok: true, ssl, insecure: undefined };
  const fromCode = input.ssl !== undefined;
  const why = `${fromCode ? 'the ssl option' : `PGSSLMODE=${mode}`} asks for ${weakness}`;
  if (input.allowInsecureTransport !== true) {
    const fix = fromCode ? 'Remove that setting' : 'Unset PGSSLMODE or set it to verify-full';
    return {
      ok: false,
      error:
        `Refusing to send the PostgreSQL secret to ${input.host} over ${weakness}: ${why}, and the secret is a bearer ` +
        `credential anyone on the path could reuse. ${fix} to get verified TLS (the default). ${OPT_OUT}.`,
    };
  }
  return { ok: true, ssl, insecure: `the secret is sent to ${input.host} over ${weakness} (${why}; allowInsecureTransport is set)` };
}

/** undefined when unset or empty; null when not a libpq (or pg) sslmode name. */
export function parseSslMode(value: string | undefined): SslMode | undefined | null {
  if (value === undefined) return undefined;
  const mode = value.trim().toLowerCase();
  if (mode === '') return undefined;
  return (SSL_MODES as readonly string[]).includes(mode) ? (mode as SslMode) : null;
}

/**
 * libpq's names mapped for a bearer secret: every mode that asks for encryption gets verified TLS
 * (as pg 8 does for require/prefer/verify-ca: "require" without verification protects nothing from
 * an active attacker); modes that allow plaintext or skip verification only mean that on loopback,
 * and elsewhere need the explicit opt-out.
 */
function fromSslMode(mode: SslMode, local: boolean): PgSsl {
  switch (mode) {
    case 'disable':
    case 'allow':
      return false;
    case 'prefer':
      // libpq falls back to plaintext when the server refuses TLS; for a bearer secret that
      // fallback is the attack, so remotely prefer means verified TLS. Locally there is nothing to protect.
      return local ? false : true;
    case 'no-verify':
      return { rejectUnauthorized: false };
    default:
      return true;
  }
}

/**
 * Loopback addresses (127.0.0.0/8, ::1, IPv4-mapped 127.x), `localhost` and Unix-socket directories.
 * Only names that cannot leave the machine count; `*.localhost` and private addresses do not.
 */
export function isLocalHost(rawHost: string): boolean {
  if (rawHost.startsWith('/')) return true;
  let host = rawHost.trim().toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.split('.')[0] === '127';
  if (isIP(host) === 6) {
    if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
    return mapped?.[1] !== undefined && isIP(mapped[1]) === 4 && mapped[1].split('.')[0] === '127';
  }
  return false;
}
