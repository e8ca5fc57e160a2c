/**
 * The slice of a pino logger the runtime needs; declared here so the runtime does not
 * depend on how the process builds its logger (tests pass `pino({ level: 'silent' })`).
 */
export type LogFn = (obj: Record<string, unknown>, msg?: string) => void;

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}
