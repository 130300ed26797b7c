/**
 * Request loggers made on first use. Fastify gives every request a pino child bound to its request
 * id, which costs about as much as the rest of a cached GET's own work (~6 µs); with request
 * logging off, almost no request ever logs. The child is made, with the same bindings, only when
 * something does.
 */
import type { FastifyBaseLogger, FastifyServerOptions } from "fastify";
import type { Bindings, ChildLoggerOptions } from "pino";

class LazyChildLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get logger(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.made?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  fatal(...args: unknown[]) {
    (this.logger.fatal as (...a: unknown[]) => void)(...args);
  }

  error(...args: unknown[]) {
    (this.logger.error as (...a: unknown[]) => void)(...args);
  }

  warn(...args: unknown[]) {
    (this.logger.warn as (...a: unknown[]) => void)(...args);
  }

  info(...args: unknown[]) {
    (this.logger.info as (...a: unknown[]) => void)(...args);
  }

  debug(...args: unknown[]) {
    (this.logger.debug as (...a: unknown[]) => void)(...args);
  }

  trace(...args: unknown[]) {
    (this.logger.trace as (...a: unknown[]) => void)(...args);
  }

  silent(...args: unknown[]) {
    (this.logger.silent as (...a: unknown[]) => void)(...args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }
}

export const lazyChildLoggerFactory: NonNullable<FastifyServerOptions["childLoggerFactory"]> = (
  logger,
  bindings,
  options,
) => new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger;
