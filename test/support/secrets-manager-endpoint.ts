import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One GetSecretValue (or other) request as the endpoint saw it. */
export interface SecretsManagerRequest {
  target: string | undefined;
  secretId: unknown;
  versionStage: unknown;
  /** The access key id of the SigV4 Authorization header: which credentials signed it. */
  accessKeyId: string | undefined;
  at: number;
}

interface Version {
  id: string;
  secretString: string;
  created: number;
  stages: Set<string>;
}

/**
 * A loopback HTTP server that speaks enough of the AWS Secrets Manager JSON 1.1 protocol for the
 * real `SecretsManagerClient` (pointed at it with `endpoint`) to run GetSecretValue end to end:
 * versions with staging labels as rotation moves them, ResourceNotFoundException for unknown ids
 * and stages, and a switch that makes it accept requests and never answer.
 */
export class SecretsManagerEndpoint {
  readonly requests: SecretsManagerRequest[] = [];
  /** Requests whose client went away before an answer (an aborted fetch). */
  abandoned = 0;
  /** While true, requests are read and never answered. */
  hang = false;
  /** When set, answers every request with this raw 200 body instead (a broken proxy, a truncated answer). */
  rawAnswer: string | undefined;
  private readonly secrets = new Map<string, { arn: string; versions: Version[] }>();
  private server: Server | undefined;
  private url: string | undefined;

  static async start(): Promise<SecretsManagerEndpoint> {
    const endpoint = new SecretsManagerEndpoint();
    const server = createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
      endpoint.handle(req, res).catch(() => res.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    endpoint.server = server;
    endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return endpoint;
  }

  get endpoint(): string {
    if (!this.url) throw new Error('SecretsManagerEndpoint is not listening; call start() first');
    return this.url;
  }

  /** Stores a new version of `secretId` as AWSCURRENT (the previous one becomes AWSPREVIOUS), as a rotation's finishSecret does. */
  put(secretId: string, value: object | string): void {
    const secret = this.secrets.get(secretId) ?? { arn: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${secretId}-AbCdEf`, versions: [] };
    this.secrets.set(secretId, secret);
    for (const version of secret.versions) {
      version.stages.delete('AWSPREVIOUS');
      if (version.stages.delete('AWSCURRENT')) version.stages.add('AWSPREVIOUS');
    }
    secret.versions.push({
      id: randomUUID(),
      secretString: typeof value === 'string' ? value : JSON.stringify(value),
      created: Date.now() / 1000,
      stages: new Set(['AWSCURRENT']),
    });
  }

  /** GetSecretValue requests for `secretId`. */
  reads(secretId: string): SecretsManagerRequest[] {
    return this.requests.filter((request) => request.target === 'secretsmanager.GetSecretValue' && request.secretId === secretId);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server?.listening) return;
    const closed = once(server, 'close');
    server.close();
    // Hanging requests would keep close() waiting.
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 64 * 1024) return void res.destroy();
      chunks.push(chunk as Buffer);
    }
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      return this.fail(res, 400, 'SerializationException', 'The request body is not JSON.');
    }
    const target = req.headers['x-amz-target'] as string | undefined;
    const accessKeyId = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
    this.requests.push({ target, secretId: body.SecretId, versionStage: body.VersionStage, accessKeyId, at: Date.now() });
    if (this.hang) {
      res.on('close', () => {
        if (!res.writableFinished) this.abandoned += 1;
      });
      return;
    }
    if (this.rawAnswer !== undefined) {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      return void res.end(this.rawAnswer);
    }
    if (req.method !== 'POST' || target !== 'secretsmanager.GetSecretValue') {
      return this.fail(res, 400, 'UnknownOperationException', `This endpoint answers GetSecretValue only, not ${String(target)}.`);
    }
    const stage = typeof body.VersionStage === 'string' ? body.VersionStage : 'AWSCURRENT';
    const secret = typeof body.SecretId === 'string' ? this.secrets.get(body.SecretId) : undefined;
    const version = secret?.versions.find((candidate) => candidate.stages.has(stage));
    if (!secret || !version) {
      return this.fail(res, 400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    this.send(res, 200, {
      ARN: secret.arn,
      Name: body.SecretId,
      VersionId: version.id,
      SecretString: version.secretString,
      VersionStages: [...version.stages],
      CreatedDate: version.created,
    });
  }

  private fail(res: ServerResponse, status: number, type: string, message: string): void {
    res.setHeader('x-amzn-errortype', type);
    this.send(res, status, { __type: type, message });
  }

  private send(res: ServerResponse, status: number, body: object): void {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
    res.end(JSON.stringify(body));
  }
}
