import type { Duplex } from 'node:stream';

/**
 * Just enough of the PostgreSQL wire protocol (v3) for LocalEntraLogin to authenticate a client
 * and log in to the real server before relaying bytes: framing, a bounded reader, and the few
 * messages a login needs.
 */

export const PROTOCOL_3_0 = 196608;
/** Longest cancel key a server may send (protocol 3.2). */
export const MAX_CANCEL_KEY = 256;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;
/** PostgreSQL's own limit for a startup packet (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_LENGTH = 10_000;

/** A protocol failure to report to the peer before closing; `code` is a SQLSTATE. */
export class WireError extends Error {
  constructor(
    readonly code: string,
    text: string,
  ) {
    super(text);
  }
}

/**
 * Reads exact byte counts from a stream during a handshake. Everything received is buffered, so
 * the buffer is capped: a peer that floods a handshake is cut off, not stored.
 */
export class WireReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiter: { need: number; resolve(value: Buffer): void; reject(error: Error): void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > this.maxBuffered) this.fail(new WireError('08P01', 'too much data before the login completed'));
    else this.settle();
  };
  private readonly onEnd = () => this.fail(new WireError('08006', 'the connection closed during the login'));
  private readonly onError = (error: Error) => this.fail(error);

  constructor(
    private readonly stream: Duplex,
    private readonly maxBuffered: number,
  ) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onError);
  }

  get buffered(): number {
    return this.size;
  }

  /** True once the stream ended, closed or failed. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  read(count: number): Promise<Buffer> {
    if (this.waiter) return Promise.reject(new Error('WireReader: one read at a time'));
    if (this.failure && this.size < count) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { need: count, resolve, reject };
      this.settle();
    });
  }

  /** A startup-phase packet (no type byte): its whole body after the length word. */
  async startupPacket(): Promise<Buffer> {
    const length = (await this.read(4)).readInt32BE(0);
    if (length < 8 || length > MAX_STARTUP_LENGTH) throw new WireError('08P01', 'invalid length of startup packet');
    return this.read(length - 4);
  }

  /** A typed message whose length is at most `maxLength`. */
  async message(maxLength: number): Promise<{ type: string; body: Buffer }> {
    const head = await this.read(5);
    const length = head.readInt32BE(1);
    if (length < 4 || length > maxLength) throw new WireError('08P01', `invalid message length ${length}`);
    return { type: String.fromCharCode(head[0]!), body: await this.read(length - 4) };
  }

  /** Stops listening and hands back whatever arrived beyond the last read, for the relay. */
  detach(): Buffer {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('close', this.onEnd);
    this.stream.off('error', this.onError);
    const rest = Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    return rest;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.failure);
  }

  private settle(): void {
    const waiter = this.waiter;
    if (!waiter || this.size < waiter.need) return;
    this.waiter = undefined;
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const rest = all.subarray(waiter.need);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
    waiter.resolve(all.subarray(0, waiter.need));
  }
}

/** A typed protocol message. */
export function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

export function int32(...values: number[]): Buffer {
  const buffer = Buffer.alloc(values.length * 4);
  values.forEach((value, i) => buffer.writeInt32BE(value, i * 4));
  return buffer;
}

export const cstring = (value: string) => Buffer.from(`${value}\0`, 'utf8');

/** An ErrorResponse, shaped as PostgreSQL sends it (S, V, C, M fields). */
export function errorResponse(severity: 'FATAL' | 'ERROR', code: string, text: string): Buffer {
  const field = (tag: string, value: string) => Buffer.concat([Buffer.from(tag, 'latin1'), cstring(value)]);
  return message('E', Buffer.concat([field('S', severity), field('V', severity), field('C', code), field('M', text), Buffer.alloc(1)]));
}

export function startupMessage(protocol: number, parameters: Map<string, string>): Buffer {
  const pairs = [...parameters].flatMap(([key, value]) => [cstring(key), cstring(value)]);
  const body = Buffer.concat([int32(protocol), ...pairs, Buffer.alloc(1)]);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** The key/value pairs of a v3 startup packet body (after the protocol word). */
export function parseStartupParameters(body: Buffer): Map<string, string> {
  const parameters = new Map<string, string>();
  const parts = body.subarray(4).toString('utf8').split('\0');
  // A well-formed packet ends with an empty name: "k\0v\0…\0".
  if (parts.length < 2 || parts.at(-1) !== '' || parts.at(-2) !== '') throw new WireError('08P01', 'invalid startup packet layout: expected terminator as last byte');
  const fields = parts.slice(0, -2);
  if (fields.length % 2 !== 0) throw new WireError('08P01', 'invalid startup packet layout: a parameter has no value');
  for (let i = 0; i < fields.length; i += 2) {
    if (!fields[i]) throw new WireError('08P01', 'invalid startup packet layout: empty parameter name');
    parameters.set(fields[i]!, fields[i + 1]!);
  }
  return parameters;
}
