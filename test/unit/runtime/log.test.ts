import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { collapseRepeats, type Logger } from '../../../src/controller/runtime/log.js';

interface Line {
  level: string;
  bindings: Record<string, unknown>;
  obj: Record<string, unknown>;
  msg?: string;
}

/** A Logger that records what reaches it, child bindings included. */
function recorder(lines: Line[], bindings: Record<string, unknown> = {}): Logger {
  const at = (level: string) => (obj: Record<string, unknown>, msg?: string) => void lines.push({ level, bindings, obj, msg });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (b) => recorder(lines, { ...bindings, ...b }) };
}

describe('collapseRepeats', () => {
  let lines: Line[];
  beforeEach(() => {
    vi.useFakeTimers();
    lines = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes the first warning, counts identical ones and writes one summary with the count per window', async () => {
    const log = collapseRepeats(recorder(lines), { windowMs: 60_000 });
    const pdDown = () => log.warn({ step: 'observe', error: 'connect ECONNREFUSED' }, 'PD is unreachable');
    pdDown();
    for (let i = 0; i < 19; i++) {
      await vi.advanceTimersByTimeAsync(3000);
      pdDown();
    }
    expect(lines).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(3000); // the window ends at 60 s
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual({
      level: 'warn',
      bindings: {},
      obj: { step: 'observe', error: 'connect ECONNREFUSED', repeated: 19 },
      msg: 'PD is unreachable (repeated 19 more times in 60s)',
    });
    // Still repeating: one summary per window, no line in between.
    for (let i = 0; i < 20; i++) {
      await vi.advanceTimersByTimeAsync(3000);
      pdDown();
    }
    // 63 s .. 117 s; the one at 120 s falls into the next window.
    expect(lines).toHaveLength(3);
    expect(lines[2]?.obj.repeated).toBe(19);
    // It stops: one more summary (the line at 120 s), then a window without repeats ends the
    // collapse, and the next occurrence is written at once.
    await vi.advanceTimersByTimeAsync(120_000);
    expect(lines).toHaveLength(4);
    expect(lines[3]?.obj.repeated).toBe(1);
    pdDown();
    expect(lines).toHaveLength(5);
    expect(lines[4]?.obj.repeated).toBeUndefined();
  });

  it('keeps lines apart that differ in message, fields, level or child bindings', () => {
    const log = collapseRepeats(recorder(lines));
    log.warn({ a: 1 }, 'x');
    log.warn({ a: 2 }, 'x');
    log.warn({ a: 1 }, 'y');
    log.error({ a: 1 }, 'x');
    log.child({ key: 'ns/one' }).warn({ a: 1 }, 'x');
    log.child({ key: 'ns/two' }).warn({ a: 1 }, 'x');
    expect(lines).toHaveLength(6);
    // Field order does not matter, and a new child with the same bindings is the same source.
    log.warn({ a: 1 }, 'x');
    log.child({ key: 'ns/one' }).warn({ a: 1 }, 'x');
    expect(lines).toHaveLength(6);
  });

  it('compares errors by message, not by stack, and leaves info lines alone', () => {
    const log = collapseRepeats(recorder(lines));
    log.warn({ err: new Error('boom') }, 'failed');
    log.warn({ err: new Error('boom') }, 'failed');
    log.warn({ err: new Error('other') }, 'failed');
    log.info({}, 'started');
    log.info({}, 'started');
    expect(lines.map((l) => `${l.level} ${l.msg}`)).toEqual(['warn failed', 'warn failed', 'info started', 'info started']);
  });

  it('writes pending counts on flush (shutdown) and nothing for lines that did not repeat', () => {
    const log = collapseRepeats(recorder(lines));
    log.warn({}, 'once');
    log.warn({}, 'twice');
    log.warn({}, 'twice');
    log.flush();
    expect(lines.map((l) => l.msg)).toEqual(['once', 'twice', 'twice (repeated 1 more time in 0s)']);
    log.warn({}, 'twice');
    expect(lines).toHaveLength(4);
  });
});
