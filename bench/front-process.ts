import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { LocalLoginRegistry, TokenGrant } from 'nestjs-entra-pg/testing';
import type { FrontRequest, FrontStats } from './login-front.js';

type Pending = { resolve(value: unknown): void; reject(error: Error): void; timer: NodeJS.Timeout };
type Body = FrontRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** A LocalEntraLogin running in a child process (login-front.ts), registering tokens over IPC. */
export class FrontProcess implements LocalLoginRegistry {
  host = '127.0.0.1';
  port = 0;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: { id: number; ok: boolean; value?: unknown; error?: string }) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      clearTimeout(waiter.timer);
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(new Error(`login front: ${reply.error}`));
    });
    child.on('exit', (code) => {
      for (const waiter of this.pending.values()) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error(`login front exited (${code})`));
      }
      this.pending.clear();
    });
  }

  static async start(admin: pg.PoolConfig): Promise<FrontProcess> {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'login-front.js');
    const front = new FrontProcess(fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const address = (await front.request({ op: 'start', admin })) as { host: string; port: number };
    front.host = address.host;
    front.port = address.port;
    return front;
  }

  async register(token: string, grant: TokenGrant): Promise<void> {
    await this.request({ op: 'register', token, grant });
  }

  async revokeIssuedBy(issuer: string): Promise<void> {
    await this.request({ op: 'revoke', issuer });
  }

  /** CPU the front's process has used so far (µs), and its login counters. */
  stats(): Promise<FrontStats> {
    return this.request({ op: 'stats' }) as Promise<FrontStats>;
  }

  async close(): Promise<void> {
    await this.request({ op: 'close' }).catch(() => undefined);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.child.kill();
        resolve();
      }, 5_000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private request(body: Body): Promise<unknown> {
    const id = (this.nextId += 1);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`login front did not answer ${body.op} within 15 s`));
      }, 15_000);
      this.pending.set(id, { resolve, reject, timer });
      this.child.send({ ...body, id });
    });
  }
}
