import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { WireError, WireReader, cstring, int32, message, startupMessage } from './pg-wire.js';

const pbkdf2Async = promisify(pbkdf2);
const MAX_BACKEND_MESSAGE = 64 * 1024;
const MAX_GREETING = 1024 * 1024;

/** The server refused the login; `response` is its ErrorResponse, to pass on to the client as is. */
export class BackendRefusedError extends Error {
  constructor(readonly response: Buffer) {
    super('the server refused the relayed login');
  }
}

export interface BackendSession {
  /** AuthenticationOk and everything after it up to and including ReadyForQuery, to replay to the client. */
  greeting: Buffer;
  /** BackendKeyData (process id and secret), which the client will use to cancel. */
  key: { processId: number; secret: Buffer } | undefined;
  /** Bytes that arrived after ReadyForQuery. */
  rest: Buffer;
}

/**
 * Logs in to the real PostgreSQL on an already connected socket with the role's internal
 * password: SCRAM-SHA-256 (what the embedded server uses), MD5 or cleartext. Salted SCRAM keys
 * are cached per password, salt and iteration count, so relayed logins cost no PBKDF2 after the
 * first one.
 */
export async function loginToBackend(
  socket: Socket,
  protocol: number,
  parameters: Map<string, string>,
  password: string,
  saltedKeys: Map<string, Buffer>,
): Promise<BackendSession> {
  const reader = new WireReader(socket, MAX_GREETING);
  // The client's protocol version goes to the server as is, so a 3.2 client hears the server's own
  // NegotiateProtocolVersion (part of the greeting) rather than a guess of ours.
  socket.write(startupMessage(protocol, parameters));
  const greeting: Buffer[] = [];
  let greetingSize = 0;
  let key: BackendSession['key'];
  let scram: ScramExchange | undefined;
  for (;;) {
    const { type, body } = await reader.message(MAX_BACKEND_MESSAGE);
    const raw = message(type, body);
    if (type === 'E') throw new BackendRefusedError(raw);
    if (type === 'R') {
      const code = body.readInt32BE(0);
      if (code === 0) greeting.push(raw);
      else if (code === 3) socket.write(message('p', cstring(password)));
      else if (code === 5) socket.write(message('p', cstring(md5Password(parameters.get('user') ?? '', password, body.subarray(4, 8)))));
      else if (code === 10) {
        if (!body.subarray(4).toString('utf8').split('\0').includes('SCRAM-SHA-256')) throw new WireError('28000', 'the server offers no SCRAM-SHA-256');
        scram = new ScramExchange(password, saltedKeys);
        const first = Buffer.from(scram.clientFirst, 'utf8');
        socket.write(message('p', Buffer.concat([cstring('SCRAM-SHA-256'), int32(first.length), first])));
      } else if (code === 11 && scram) socket.write(message('p', Buffer.from(await scram.clientFinal(body.subarray(4).toString('utf8')), 'utf8')));
      else if (code === 12 && scram) scram.verifyServer(body.subarray(4).toString('utf8'));
      else throw new WireError('28000', `the server asked for an authentication method the relay does not speak (${code})`);
      continue;
    }
    greetingSize += raw.length;
    if (greetingSize > MAX_GREETING) throw new WireError('08P01', 'the server greeting is too large');
    greeting.push(raw);
    if (type === 'K' && body.length >= 8) key = { processId: body.readInt32BE(0), secret: Buffer.from(body.subarray(4)) };
    if (type === 'Z') return { greeting: Buffer.concat(greeting), key, rest: reader.detach() };
  }
}

function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user).digest('hex');
  return `md5${createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex')}`;
}

const hmac = (key: Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** The client side of SCRAM-SHA-256 without channel binding (RFC 5802/7677), as libpq does it. */
class ScramExchange {
  private readonly nonce = randomBytes(18).toString('base64');
  private authMessage = '';
  private salted: Buffer | undefined;

  constructor(
    private readonly password: string,
    private readonly saltedKeys: Map<string, Buffer>,
  ) {}

  get clientFirst(): string {
    return `n,,${this.clientFirstBare}`;
  }

  private get clientFirstBare(): string {
    return `n=*,r=${this.nonce}`;
  }

  async clientFinal(serverFirst: string): Promise<string> {
    const fields = new Map(serverFirst.split(',').map((part) => [part.slice(0, 1), part.slice(2)]));
    const serverNonce = fields.get('r') ?? '';
    const salt = fields.get('s') ?? '';
    const iterations = Number(fields.get('i'));
    if (!serverNonce.startsWith(this.nonce) || !salt || !Number.isInteger(iterations) || iterations < 1 || iterations > 1_000_000) {
      throw new WireError('08P01', 'invalid SCRAM server-first message');
    }
    const cacheKey = `${iterations}:${salt}:${this.password}`;
    let salted = this.saltedKeys.get(cacheKey);
    if (!salted) {
      salted = await pbkdf2Async(this.password.normalize('NFKC'), Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
      this.saltedKeys.set(cacheKey, salted);
    }
    this.salted = salted;
    const withoutProof = `c=biws,r=${serverNonce}`;
    this.authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientKey = hmac(salted, 'Client Key');
    const signature = hmac(createHash('sha256').update(clientKey).digest(), this.authMessage);
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!));
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  verifyServer(serverFinal: string): void {
    const expected = hmac(hmac(this.salted ?? Buffer.alloc(32), 'Server Key'), this.authMessage);
    const got = Buffer.from(serverFinal.startsWith('v=') ? serverFinal.slice(2) : '', 'base64');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new WireError('28000', 'the server signature in SCRAM is wrong');
  }
}
