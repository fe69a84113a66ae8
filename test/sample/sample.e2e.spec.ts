import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { Test } from '@nestjs/testing';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { AppModule } from '../../sample/app.module.js';
import { LocalAzure } from '../../sample/local/local-azure.js';
import { LogCapture } from '../support/log-capture.js';
import { sleep } from '../support/harness.js';
import { freePort } from '../support/postgres.js';

// import.meta.dirname is not available in Jest's VM modules.
const root = fileURLToPath(new URL('../..', import.meta.url));

describe('sample app over HTTP, on a real PostgreSQL and the real ManagedIdentityCredential', () => {
  let local: LocalAzure;
  let app: INestApplication;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    local = await LocalAzure.start(4_000);
    Object.assign(process.env, local.env);
    const module = await Test.createTestingModule({ imports: [AppModule.register(local)] })
      .setLogger(LogCapture.install())
      .compile();
    app = module.createNestApplication();
    await app.init();
  });
  afterAll(async () => {
    await app?.close(); // closes the pool, then the local database (LocalAzureShutdown)
    process.env = savedEnv;
  });

  it('GET /health/live never touches the database; GET /health reports the token and pool', async () => {
    await request(app.getHttpServer()).get('/health/live').expect(200, { status: 'ok' });
    const res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.details.database).toMatchObject({
      status: 'up',
      user: 'todo-api-identity',
      refreshFailures: 0,
      lastError: null,
      pool: { max: 10 },
      rotations: 0,
    });
    expect(res.body.details.database.tokenExpiresInSeconds).toBeGreaterThanOrEqual(0);
  });

  it('serves todos CRUD across several token rotations with no failed request', async () => {
    const http = request(app.getHttpServer());
    const issuedBefore = local.authority.issued;
    // Until three tokens have come and gone and at least 20 rounds ran; bounded by a deadline, not a rate.
    const deadline = Date.now() + 40_000;
    let rounds = 0;
    while (Date.now() < deadline && (rounds <= 20 || local.authority.issued - issuedBefore < 3)) {
      const created = await http.post('/todos').send({ title: `round ${rounds}` }).expect(201);
      const id = created.body.id;
      await http.get(`/todos/${id}`).expect(200);
      await http.patch(`/todos/${id}`).send({ done: true }).expect(200).expect((r) => expect(r.body.done).toBe(true));
      await http.get('/todos').expect(200);
      await http.delete(`/todos/${id}`).expect(204);
      await http.get(`/todos/${id}`).expect(404);
      rounds += 1;
      await sleep(50);
    }
    expect(rounds).toBeGreaterThan(20);
    // 4 s tokens over 8 s: several refreshes, each through the managed-identity endpoint.
    expect(local.authority.issued - issuedBefore).toBeGreaterThanOrEqual(3);
    await http.post('/todos').send({ title: '' }).expect(400);
  });

  it('readiness: up while refresh fails with a valid token, 503 once expired, up again after recovery', async () => {
    const http = request(app.getHttpServer());
    local.authority.outage = true;
    try {
      let failing: request.Response | undefined;
      for (let i = 0; i < 40; i += 1) {
        failing = await http.get('/health');
        if (failing.status !== 200 || failing.body.details.database.refreshFailures > 0) break;
        await sleep(100);
      }
      expect(failing!.status).toBe(200);
      expect(failing!.body.details.database.refreshFailures).toBeGreaterThan(0);
      let down: request.Response | undefined;
      for (let i = 0; i < 50; i += 1) {
        down = await http.get('/health');
        if (down.status === 503) break;
        await sleep(100);
      }
      expect(down!.status).toBe(503);
      expect(down!.body.error.database.message).toMatch(/token expired and refreshing it has failed/);
    } finally {
      local.authority.outage = false;
    }
    let back = 503;
    for (let i = 0; i < 50 && back !== 200; i += 1) {
      await sleep(100);
      back = (await http.get('/health')).status;
    }
    expect(back).toBe(200);
  });
});

describe('sample process on SIGTERM', () => {
  it('turns readiness 503, finishes the in-flight request, closes the pool and exits 0', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      SAMPLE_TOKEN_LIFETIME_MS: '5000',
      SHUTDOWN_GRACE_MS: '500',
    };
    const child = spawn(process.execPath, ['sample/dist/main.js'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      for (let i = 0; i < 200 && !output.includes('listening on'); i += 1) await sleep(100);
      expect(output).toContain(`listening on http://127.0.0.1:${port}`);
      const base = `http://127.0.0.1:${port}`;
      // The Prometheus endpoint shows the token gauge moving as time passes and tokens rotate.
      const ttl = async () => {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        const line = /^entra_pg_token_time_to_expiry\{[^}]*db_client_connection_pool_name="default"[^}]*\} (\S+)/m.exec(text);
        return line ? Number(line[1]) : undefined;
      };
      const first = await ttl();
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThanOrEqual(5);
      let moved = first;
      for (let i = 0; i < 50 && moved === first; i += 1) {
        await sleep(100);
        moved = await ttl();
      }
      expect(moved).not.toBe(first);
      const inFlight = fetch(`${base}/demo/slow?ms=1500`);
      await sleep(300);
      child.kill('SIGTERM');
      await sleep(100);
      const readiness = await fetch(`${base}/health`);
      expect(readiness.status).toBe(503);
      const slow = await inFlight;
      expect(slow.status).toBe(200);
      expect(await slow.json()).toEqual({ sleptMs: 1500, user: 'todo-api-identity' });
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise((done) => (timer = setTimeout(() => done('timeout'), 20_000)))]);
      clearTimeout(timer);
      expect(code).toBe(0);
      expect(output).toMatch(/Pool closed/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('sample process in production', () => {
  it.each(['production', ' PROD'])('with NODE_ENV=%j and no PGHOST starts no local stand-ins and fails to boot', async (mode) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NODE_ENV: mode, PORT: String(await freePort()), METRICS_PORT: String(await freePort()) };
    const child = spawn(process.execPath, ['sample/dist/main.js'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let timer: NodeJS.Timeout | undefined;
    try {
      const code = await Promise.race([
        new Promise<number | null>((done) => child.once('exit', (exitCode) => done(exitCode))),
        new Promise((done) => (timer = setTimeout(() => done('timeout'), 30_000))),
      ]);
      expect(code).toBe(1);
      expect(output).toMatch(/EntraPgModule "default": no PostgreSQL host: set the `host` option, a connectionString, or PGHOST/);
      expect(output).not.toMatch(/started a local PostgreSQL|managed-identity endpoint/);
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
