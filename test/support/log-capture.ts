import { Logger, type LoggerService } from '@nestjs/common';

export interface CapturedLine {
  level: string;
  context: string | undefined;
  message: string;
}

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

  log(message: unknown, context?: string): void {
    this.push('log', message, context);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.push('error', message, rest.at(-1) as string | undefined);
  }
  warn(message: unknown, context?: string): void {
    this.push('warn', message, context);
  }
  debug(message: unknown, context?: string): void {
    this.push('debug', message, context);
  }
  verbose(message: unknown, context?: string): void {
    this.push('verbose', message, context);
  }

  text(): string {
    return this.lines.map((line) => `${line.level} [${line.context}] ${line.message}`).join('\n');
  }

  matching(pattern: RegExp): CapturedLine[] {
    return this.lines.filter((line) => pattern.test(line.message));
  }

  /** Fails when any of the secrets (or a JWT-looking string) appears in a captured line. */
  assertNoSecrets(secrets: Iterable<string>): void {
    const text = this.text();
    for (const secret of secrets) {
      if (secret && text.includes(secret)) throw new Error('a secret appeared in the logs');
    }
    if (/eyJ[\w-]{10,}\.[\w-]{10,}/.test(text)) throw new Error('a JWT appeared in the logs');
  }

  private push(level: string, message: unknown, context: string | undefined): void {
    this.lines.push({ level, context, message: message instanceof Error ? message.message : String(message) });
  }
}
