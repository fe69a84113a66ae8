// The loopback guard's exit code and stderr marker, importable without installing the guard:
// importing loopback-only.guard.ts patches node:net and node:dns for the whole Jest worker, and
// every later suite in that worker (servers on 127.0.0.2, …) would be cut off.
export const BLOCKED_EXIT_CODE = 86;
export const BLOCKED_MARKER = 'LOOPBACK-GUARD blocked';
