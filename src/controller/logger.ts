// The operator process's logger: JSON lines (pino) by default, which is what a pod's log
// collector wants; on a terminal, one readable line per entry through pino-pretty (pino's
// own prettifier, used as a synchronous stream: no worker thread, nothing lost on exit).
import pino from 'pino';

export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

/**
 * `auto` (the default) is pretty only on a terminal outside a pod: `kubectl logs` and
 * log shippers keep getting JSON even when a pod is started with a TTY.
 */
export function chooseLogFormat(wanted: string | undefined, env: Record<string, string | undefined>, isTTY: boolean): LogFormat {
  const w = (wanted ?? env.LOG_FORMAT ?? 'auto').trim();
  if (w === 'json' || w === 'pretty') return w;
  if (w !== 'auto') throw new Error(`log format must be one of ${LOG_FORMATS.join(', ')}, not "${w}"`);
  return isTTY && !env.KUBERNETES_SERVICE_HOST ? 'pretty' : 'json';
}

export interface ProcessLoggerOptions {
  level: string;
  format: LogFormat;
  /** Where pretty lines go (default stdout); JSON always goes to stdout. */
  destination?: NodeJS.WritableStream;
  colorize?: boolean;
}

export async function createProcessLogger(o: ProcessLoggerOptions): Promise<pino.Logger> {
  const options: pino.LoggerOptions = { level: o.level, base: { app: 'tikv-operator' } };
  if (o.format === 'json') return pino(options);
  const { default: pretty } = await import('pino-pretty');
  const stream = pretty({
    colorize: o.colorize ?? true,
    sync: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // The cluster key leads the line; the rest of the fields follow it as compact JSON.
    messageFormat: '{if key}{key} {end}{msg}',
    ignore: 'pid,hostname,app,controller,key',
    // Only `err` is an Error; a string field named `error` stays on the line.
    errorLikeObjectKeys: ['err'],
    destination: o.destination ?? process.stdout,
  });
  return pino(options, stream);
}
