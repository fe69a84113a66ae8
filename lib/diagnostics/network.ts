import { lookup } from 'node:dns/promises';
import { BlockList, type Socket, connect, isIP } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { redact } from '../common/redact.js';
import type { PgSsl } from '../options/tls-policy.js';
import type { DiagnosisCheck } from './check.js';

// RFC 1918, loopback, link-local, CGNAT, ULA: addresses that do not leave a private network.
const PRIVATE = new BlockList();
for (const [net, prefix] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['127.0.0.0', 8], ['169.254.0.0', 16], ['100.64.0.0', 10]] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [['fc00::', 7], ['fe80::', 10], ['::1', 128]] as const) PRIVATE.addSubnet(net, prefix, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && PRIVATE.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/** Resolves the configured host only (the OS resolver, as pg does); connects nowhere. */
export async function checkDns(host: string, resolve = lookup): Promise<DiagnosisCheck> {
  try {
    const addresses = isIP(host) ? [{ address: host }] : await resolve(host, { all: true });
    const list = addresses.map(({ address }) => `${address} (${isPrivateAddress(address) ? 'private' : 'public'})`).join(', ');
    const azure = /\.postgres\.database\.azure\.com\.?$/i.test(host);
    const allPublic = addresses.every(({ address }) => !isPrivateAddress(address));
    return {
      id: 'dns',
      status: 'ok',
      found: `${host} → ${list}${azure && allPublic ? '; public address: the server is reached over its public endpoint (firewall rules apply)' : ''}`,
      fix: '',
    };
  } catch (error) {
    return {
      id: 'dns',
      status: 'fail',
      found: `${host} does not resolve: ${redact(String((error as Error).message), 200)}`,
      fix: 'check PGHOST (or `host`) for a typo; from inside a VNet a private endpoint needs its private DNS zone linked to the VNet',
    };
  }
}

const PGBOUNCER_PORT = 6432;

/** Opens one TCP connection to host:port, times it, and closes it; bounded by `timeoutMs`. */
export async function checkTcp(host: string, port: number, timeoutMs: number): Promise<DiagnosisCheck> {
  const started = performance.now();
  const result = await new Promise<{ error?: Error; address?: string }>((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    socket.once('connect', () => {
      const address = socket.remoteAddress;
      socket.destroy();
      resolve({ address });
    });
    socket.once('error', (error) => resolve({ error }));
  });
  const ms = Math.round(performance.now() - started);
  if (result.error) {
    return {
      id: 'tcp',
      status: 'fail',
      found: `${host}:${port} does not answer: ${redact(result.error.message, 200)}`,
      fix: "check PGPORT (5432; 6432 for Azure's built-in PgBouncer), that the server is running, and that a firewall rule or private endpoint lets this machine in",
    };
  }
  const bouncer = port === PGBOUNCER_PORT;
  return {
    id: 'tcp',
    status: bouncer ? 'warn' : 'ok',
    found: `${result.address}:${port} answers in ${ms} ms${bouncer ? '; port 6432 is PgBouncer\'s (Azure\'s built-in PgBouncer listens there)' : ''}`,
    fix: bouncer ? 'PgBouncer must pass Entra tokens through to the server (Azure\'s built-in one does); a self-hosted PgBouncer needs an auth_query that knows the token, or connect to 5432' : '',
  };
}

/**
 * Asks for TLS the way pg does (an SSLRequest), then verifies the chain and host name with the
 * configured CA. Sends no startup packet: the connection is closed after the handshake.
 */
export async function checkTls(host: string, port: number, ssl: PgSsl, offBecause: string | undefined, timeoutMs: number): Promise<DiagnosisCheck> {
  if (ssl === false && offBecause === undefined) {
    // The module's own rule: loopback (a tunnel, a local server) is plaintext unless asked for.
    return { id: 'tls', status: 'skipped', found: `TLS off: ${host} is a loopback address (pass ssl to turn it on)`, fix: '' };
  }
  if (ssl === false) {
    return {
      id: 'tls',
      status: 'warn',
      found: `TLS is off for this connection (${offBecause})`,
      fix: `Azure requires TLS: remove ${offBecause} unless this is a local tunnel`,
    };
  }
  const options: ConnectionOptions = ssl === true ? {} : { ...ssl };
  const verify = options.rejectUnauthorized !== false;
  const raw = connect({ host, port });
  try {
    const answer = await new Promise<string>((resolve, reject) => {
      raw.setTimeout(timeoutMs, () => reject(new Error(`no answer to the SSL request within ${timeoutMs} ms`)));
      raw.once('error', reject);
      raw.once('data', (chunk: Buffer) => resolve(chunk.subarray(0, 1).toString('latin1')));
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(80877103, 4);
      raw.write(request);
    });
    if (answer !== 'S') {
      return { id: 'tls', status: 'fail', found: 'the server does not offer TLS', fix: 'enable TLS on the server (ssl = on), or, for a local tunnel only, set ssl: false' };
    }
    const secure = await new Promise<Socket & { getProtocol(): string | null; authorized: boolean; authorizationError?: Error }>((resolve, reject) => {
      const socket = tlsConnect({ ...options, socket: raw, host, servername: isIP(host) ? undefined : (options.servername ?? host) });
      socket.once('secureConnect', () => resolve(socket));
      socket.once('error', reject);
    });
    const protocol = secure.getProtocol() ?? 'unknown';
    secure.destroy();
    return {
      id: 'tls',
      status: verify ? 'ok' : 'warn',
      found: `TLS ${protocol}; certificate ${verify ? 'chain and host name verified' : 'NOT verified (rejectUnauthorized: false)'}`,
      fix: verify ? '' : "pass ssl: { ca } with the server's certificate authority instead of turning verification off",
    };
  } catch (error) {
    return {
      id: 'tls',
      status: 'fail',
      found: `TLS handshake failed: ${redact(String((error as Error).message), 300)}`,
      fix: "pass ssl: { ca } with the CA that signed the server's certificate (Azure: DigiCert Global Root G2 and Microsoft RSA Root CA 2017), and connect by the name in the certificate",
    };
  } finally {
    raw.destroy();
  }
}
