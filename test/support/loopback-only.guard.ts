// Preloaded into a child process (`--import`) to prove it talks to nothing but 127.0.0.1: any TCP
// connection or DNS lookup for another host (the metadata endpoint 169.254.169.254,
// login.microsoftonline.com, …) is reported on stderr and ends the process at once, before a
// single byte leaves, with a distinct exit code.
import dns from 'node:dns';
import net from 'node:net';
import { BLOCKED_EXIT_CODE, BLOCKED_MARKER } from './loopback-only.constants.js';

export { BLOCKED_EXIT_CODE, BLOCKED_MARKER };
const ALLOWED_HOST = '127.0.0.1';

function block(what: string): never {
  process.stderr.write(`${BLOCKED_MARKER} ${what}\n${new Error('stack').stack ?? ''}\n`);
  process.exit(BLOCKED_EXIT_CODE);
}

type ConnectArgs = Parameters<net.Socket['connect']>;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  // connect(options[, listener]), connect(port[, host][, listener]), connect(path[, listener]);
  // net.connect passes [options, listener] as one array.
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const target =
    typeof first === 'object' && first !== null
      ? (first as net.TcpSocketConnectOpts & { path?: string })
      : typeof first === 'string' && Number.isNaN(Number(first))
        ? { path: first }
        : { port: Number(first), host: typeof args[1] === 'string' ? args[1] : undefined };
  // http.Agent passes `path: null` along with host and port; only a string path is a socket file.
  if ('path' in target && typeof target.path === 'string') block(`connection to the socket ${target.path}`);
  const host = (target as net.TcpSocketConnectOpts).host ?? 'localhost';
  if (host !== ALLOWED_HOST) block(`connection to ${host}:${(target as net.TcpSocketConnectOpts).port}`);
  return connect.apply(this, args as ConnectArgs);
} as net.Socket['connect'];

const lookup = dns.lookup;
dns.lookup = function guardedLookup(hostname: string, ...rest: unknown[]) {
  if (hostname !== ALLOWED_HOST) block(`DNS lookup of ${hostname}`);
  return (lookup as (...all: unknown[]) => unknown).call(dns, hostname, ...rest);
} as typeof dns.lookup;
const lookupPromise = dns.promises.lookup;
dns.promises.lookup = function guardedLookupPromise(hostname: string, ...rest: unknown[]) {
  if (hostname !== ALLOWED_HOST) block(`DNS lookup of ${hostname}`);
  return (lookupPromise as (...all: unknown[]) => unknown).call(dns.promises, hostname, ...rest);
} as typeof dns.promises.lookup;
