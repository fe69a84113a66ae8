import type pg from 'pg';
import { LocalEntraLogin, type TokenGrant } from 'nestjs-entra-pg/testing';

/**
 * The benchmark's LocalEntraLogin, in a child process of its own so that the relay's CPU is
 * measured apart from the load and the pools (process.cpuUsage() cannot split one process).
 * Driven over IPC by FrontProcess.
 */
export type FrontRequest =
  | { id: number; op: 'start'; admin: pg.PoolConfig }
  | { id: number; op: 'register'; token: string; grant: TokenGrant }
  | { id: number; op: 'revoke'; issuer: string }
  | { id: number; op: 'stats' }
  | { id: number; op: 'close' };

export interface FrontStats {
  cpuUs: number;
  logins: number;
  refusals: number;
  sessions: number;
}

let front: LocalEntraLogin | undefined;

async function handle(request: FrontRequest): Promise<unknown> {
  if (request.op === 'start') {
    front = await LocalEntraLogin.start({ admin: request.admin });
    return { host: front.host, port: front.port };
  }
  if (!front) throw new Error('the front is not started');
  switch (request.op) {
    case 'register':
      return front.register(request.token, request.grant);
    case 'revoke':
      return front.revokeIssuedBy(request.issuer);
    case 'stats': {
      const cpu = process.cpuUsage();
      return { cpuUs: cpu.user + cpu.system, logins: front.logins, refusals: front.refusals, sessions: front.sessions } satisfies FrontStats;
    }
    case 'close':
      await front.close();
      setImmediate(() => process.disconnect());
      return undefined;
  }
}

if (process.send) {
  process.on('message', (request: FrontRequest) => {
    handle(request).then(
      (value) => process.send?.({ id: request.id, ok: true, value }),
      (error: unknown) => process.send?.({ id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
    );
  });
}
