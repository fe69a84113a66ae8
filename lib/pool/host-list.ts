/** One server of a host list, with its own port. */
export interface HostEntry {
  host: string;
  port: number;
}

/**
 * libpq's host lists: `host` (or PGHOST) may be `a,b,c`, each entry with its own port as
 * `name:port` (`[::1]:5433` for IPv6); `ports` (PGPORT may be a list too) gives one port for every
 * host, or one per host in order. Returns the list, or a message saying what is wrong.
 */
export function parseHostList(hostText: string, ports: number[], defaultPort: number): HostEntry[] | string {
  const names = hostText.split(',').map((name) => name.trim());
  if (names.some((name) => name === '')) return `host "${hostText}" has an empty entry; separate host names with single commas.`;
  if (ports.length > 1 && ports.length !== names.length) {
    return `${ports.length} ports were given for ${names.length} host(s); give one port for all, or one per host.`;
  }
  const hosts: HostEntry[] = [];
  for (const [i, name] of names.entries()) {
    const fallback = ports.length > 1 ? ports[i]! : (ports[0] ?? defaultPort);
    const parsed = splitPort(name);
    if (typeof parsed === 'string') return parsed;
    hosts.push({ host: parsed.host, port: parsed.port ?? fallback });
  }
  return hosts;
}

function splitPort(entry: string): { host: string; port: number | undefined } | string {
  // [v6]:port, or [v6]
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1]!, port: toPort(bracketed[2]) };
  const colons = entry.split(':').length - 1;
  // A bare IPv6 address has several colons and no port; a Unix socket path has none.
  if (colons !== 1 || entry.startsWith('/')) return { host: entry, port: undefined };
  const [host, port] = entry.split(':') as [string, string];
  const value = toPort(port);
  if (value === undefined || host === '') return `host entry "${entry}" must be name or name:port, with a port from 1 to 65535.`;
  return { host, port: value };
}

function toPort(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** `a:5432,b:5433`, for messages. */
export function describeHosts(hosts: readonly HostEntry[]): string {
  return hosts.map(({ host, port }) => `${host}:${port}`).join(',');
}
