import { type LookupFunction, Socket, type SocketConstructorOpts } from 'node:net';

/**
 * A socket that resolves the server's host name with the given `lookup` rather than the OS
 * resolver. pg calls `connect(port, host)` (or `connect(path)` for a Unix socket); TLS is layered
 * on top by pg afterwards and still checks the configured host name, not the address.
 */
class LookupSocket extends Socket {
  constructor(
    private readonly lookupWith: LookupFunction,
    options?: SocketConstructorOpts,
  ) {
    super(options);
  }

  // net.Socket's connect() has many overloads; pg uses only these two.
  override connect(...args: unknown[]): this {
    const [port, host, listener] = args as [number | string, string | undefined, (() => void) | undefined];
    if (typeof port === 'string' && host === undefined) return super.connect(port, listener);
    return super.connect({ port: Number(port), host: host ?? 'localhost', lookup: this.lookupWith }, listener);
  }
}

/** pg's `stream` option: a factory of sockets that resolve with `lookup`. */
export function socketFactory(lookup: LookupFunction): () => Socket {
  return () => new LookupSocket(lookup);
}
