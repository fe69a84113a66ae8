import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SelfSignedCertificate {
  /** PEM certificate; being self-signed, it is also the CA a client must trust. */
  cert: string;
  /** PEM private key. */
  key: string;
}

/**
 * Makes a one-day self-signed certificate for `localhost` and 127.0.0.1 with the `openssl`
 * binary (Node has no certificate builder, and a dependency for test TLS is not worth it).
 */
export async function createSelfSignedCertificate(): Promise<SelfSignedCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'local-entra-login-'));
  try {
    const [keyFile, certFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    await run(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
      { timeout: 15_000 },
    ).catch((error: NodeJS.ErrnoException) => {
      const why = error.code === 'ENOENT' ? 'the openssl binary is not on PATH' : `openssl failed (${error.message.split('\n')[0]})`;
      throw new Error(`LocalEntraLogin: cannot make a self-signed certificate for TLS: ${why}. Install openssl or start without tls.`);
    });
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
