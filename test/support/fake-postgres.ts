import dns from 'node:dns';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';

/** The 8-byte SSLRequest a PostgreSQL client sends before anything else when it wants TLS. */
const SSL_REQUEST_CODE = 80877103;

export interface RecordedConnection {
  /** Whether the first packet was an SSLRequest (TLS asked for before any secret). */
  sslRequest: boolean;
  /** Every byte the client sent in the clear. */
  received: Buffer;
}

/**
 * A fake PostgreSQL server on 127.0.0.1 that records how clients open: it refuses TLS ('N'), and
 * to a plaintext startup answers "send your password in cleartext", so a client that would leak
 * the secret does leak it into `received`, where a test can look for it.
 */
export class FakePostgres {
  readonly connections: RecordedConnection[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<FakePostgres> {
    const server = createServer();
    const fake = new FakePostgres(server);
    server.on('connection', (socket) => fake.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Everything every client sent, as text (latin1 keeps every byte). */
  receivedText(): string {
    return this.connections.map((c) => c.received.toString('latin1')).join('\n');
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const record: RecordedConnection = { sslRequest: false, received: Buffer.alloc(0) };
    this.connections.push(record);
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      record.received = Buffer.concat([record.received, chunk]);
      if (answered || record.received.length < 8) return;
      answered = true;
      const first = record.received;
      if (first.readInt32BE(0) === 8 && first.readInt32BE(4) === SSL_REQUEST_CODE) {
        record.sslRequest = true;
        socket.end('N');
        return;
      }
      // AuthenticationCleartextPassword: the client answers with the password as it is.
      const ask = Buffer.alloc(9);
      ask.write('R', 0, 'latin1');
      ask.writeInt32BE(8, 1);
      ask.writeInt32BE(3, 5);
      socket.write(ask);
      setTimeout(() => socket.destroy(), 200).unref();
    });
  }
}

/**
 * Resolves every host name to 127.0.0.1 in this process only, so clients given Azure or custom
 * names reach the fake server and nothing leaves the machine. Returns the undo.
 */
export function resolveEverythingToLoopback(): () => void {
  const original = dns.lookup;
  const fake = (_hostname: string, options: unknown, callback?: unknown) => {
    const cb = (typeof options === 'function' ? options : callback) as (...args: unknown[]) => void;
    const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all;
    process.nextTick(() => (all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)));
  };
  (dns as { lookup: unknown }).lookup = fake;
  return () => {
    (dns as { lookup: unknown }).lookup = original;
  };
}
