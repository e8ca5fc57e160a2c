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

export interface CollapsingLogger extends Logger {
  /** Writes the pending "repeated N times" summaries now (on shutdown). */
  flush(): void;
}

export interface CollapseOptions {
  /** How long identical lines are counted instead of written (default 60 s). */
  windowMs?: number;
  /** Levels that collapse (default warn and error). */
  levels?: ReadonlyArray<'debug' | 'info' | 'warn' | 'error'>;
}

const MAX_TRACKED = 1000;

interface Repeat {
  log: Logger;
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string | undefined;
  /** Identical lines dropped since the last one written. */
  dropped: number;
  windowStart: number;
  timer: NodeJS.Timeout;
}

/**
 * Collapses repeated identical lines: a PD that stays unreachable makes the same warning
 * every poll (3 s), which buries everything else. The first occurrence is written at
 * once; identical ones (same level, message, fields and child bindings) within the
 * window are only counted, and at the end of the window one line with `repeated: N`
 * says how many were dropped. A window without repeats ends the collapse, so the next
 * occurrence is written at once again.
 */
export function collapseRepeats(log: Logger, options: CollapseOptions = {}): CollapsingLogger {
  const windowMs = options.windowMs ?? 60_000;
  const levels = new Set(options.levels ?? ['warn', 'error']);
  const repeats = new Map<string, Repeat>();

  const writeSummary = (r: Repeat) => {
    const seconds = Math.round((Date.now() - r.windowStart) / 1000);
    const times = `${r.dropped} more time${r.dropped === 1 ? '' : 's'}`;
    r.log[r.level]({ ...r.obj, repeated: r.dropped }, `${r.msg ?? ''} (repeated ${times} in ${seconds}s)`);
  };
  // At the end of a window: summarize and count on for another window, or end the collapse.
  const endWindow = (key: string) => {
    const r = repeats.get(key);
    if (!r) return;
    if (r.dropped === 0) {
      repeats.delete(key);
      return;
    }
    writeSummary(r);
    r.dropped = 0;
    r.windowStart = Date.now();
    r.timer = schedule(key);
  };
  const schedule = (key: string) => {
    const t = setTimeout(() => endWindow(key), windowMs);
    t.unref();
    return t;
  };

  const wrap = (inner: Logger, scope: string): CollapsingLogger => {
    const at =
      (level: 'debug' | 'info' | 'warn' | 'error'): LogFn =>
      (obj, msg) => {
        if (!levels.has(level)) return inner[level](obj, msg);
        const key = `${scope}\u0000${level}\u0000${msg ?? ''}\u0000${stableKey(obj)}`;
        const r = repeats.get(key);
        if (r) {
          r.dropped++;
          return;
        }
        inner[level](obj, msg);
        // Lines that differ every time (a timestamp in a field) must not grow the map unbounded.
        if (repeats.size < MAX_TRACKED) repeats.set(key, { log: inner, level, obj, msg, dropped: 0, windowStart: Date.now(), timer: schedule(key) });
      };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (bindings) => wrap(inner.child(bindings), `${scope}${stableKey(bindings)}`),
      flush: () => {
        for (const r of repeats.values()) {
          clearTimeout(r.timer);
          if (r.dropped > 0) writeSummary(r);
        }
        repeats.clear();
      },
    };
  };
  return wrap(log, '');
}

/** Field values as one string; an Error counts by its name, message and code, not its stack. */
function stableKey(obj: Record<string, unknown>): string {
  return JSON.stringify(obj, (_k, v: unknown) => {
    if (v instanceof Error) return { name: v.name, message: v.message, code: (v as { code?: unknown }).code };
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}
