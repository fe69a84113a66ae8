import { Logger, type LoggerService } from '@nestjs/common';
import { inspect } from 'node:util';

export interface CapturedLine {
  level: string;
  context: string | undefined;
  /** The first argument as text (an Error's message), for assertions on events. */
  message: string;
  /** What a real logger prints: every argument through util.inspect, causes and own properties included. */
  printed: string;
}

/** Nest's ConsoleLogger prints objects and errors with util.inspect; deeper than its default, to be safe. */
const PRINT_OPTIONS = { depth: 10, breakLength: Infinity, maxStringLength: null } as const;

/** Collects everything logged through Nest's Logger, to assert on events and on leaked secrets. */
export class LogCapture implements LoggerService {
  readonly lines: CapturedLine[] = [];
  /** The capture most recently installed; test harnesses hand it to Nest's testing module. */
  static current: LogCapture | undefined;

  static install(): LogCapture {
    const capture = new LogCapture();
    LogCapture.current = capture;
    Logger.overrideLogger(capture);
    return capture;
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.push('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.push('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.push('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.push('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.push('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.push('fatal', message, rest);
  }

  text(): string {
    return this.lines.map((line) => `${line.level} [${line.context}] ${line.printed}`).join('\n');
  }

  matching(pattern: RegExp): CapturedLine[] {
    return this.lines.filter((line) => pattern.test(line.message));
  }

  /** Fails when any of the secrets (or a JWT-looking string) appears in anything a logger would print. */
  assertNoSecrets(secrets: Iterable<string>): void {
    const text = this.text();
    for (const secret of secrets) {
      if (secret && text.includes(secret)) throw new Error('a secret appeared in the logs');
    }
    if (/eyJ[\w-]{10,}\.[\w-]{10,}/.test(text)) throw new Error('a JWT appeared in the logs');
  }

  private push(level: string, message: unknown, rest: unknown[]): void {
    // Nest's Logger passes its context last.
    const context = typeof rest.at(-1) === 'string' ? (rest.at(-1) as string) : undefined;
    const params = context === undefined ? rest : rest.slice(0, -1);
    const printed = [message, ...params].map((arg) => (typeof arg === 'string' ? arg : inspect(arg, PRINT_OPTIONS))).join(' ');
    this.lines.push({ level, context, message: message instanceof Error ? message.message : String(message), printed });
  }
}
