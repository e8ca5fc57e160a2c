import { describe, expect, it } from 'vitest';
import { guardWrites, NOT_LEADING } from '../../src/controller/reconcile/io.js';

describe('guardWrites (no writes after leadership is lost)', () => {
  it('lets every write through only until the signal aborts; reads are not its business', async () => {
    const calls: string[] = [];
    const writes = {
      apply: async (x: number) => x * 2,
      pd: {
        deleteStore: async (id: string) => {
          calls.push(`deleteStore ${id}`);
          return 'offline' as const;
        },
      },
    };
    const health = async () => {
      calls.push('health');
      return [];
    };
    const abort = new AbortController();
    const guarded = guardWrites(writes, abort.signal);

    expect(await guarded.apply(2)).toBe(4);
    expect(await guarded.pd.deleteStore('5')).toBe('offline');
    abort.abort();
    await expect(guarded.apply(2)).rejects.toThrow(/no longer the leader/);
    await expect(guarded.pd.deleteStore('6')).rejects.toThrow(NOT_LEADING);
    expect(await health()).toEqual([]);
    expect(calls).toEqual(['deleteStore 5', 'health']);
  });

  it('guards a write added to the writes object without anyone listing it, Events included', async () => {
    const emitted: string[] = [];
    const writes = {
      emit: async (reason: string) => void emitted.push(reason),
      // A write nobody has heard of: nested, and named like nothing before it.
      someday: { newWrite: async () => 'done' },
    };
    const abort = new AbortController();
    const guarded = guardWrites(writes, abort.signal);
    expect(await guarded.someday.newWrite()).toBe('done');
    await guarded.emit('ClusterReady');
    abort.abort();
    await expect(guarded.someday.newWrite()).rejects.toThrow(NOT_LEADING);
    await expect(guarded.emit('Degraded')).rejects.toThrow(NOT_LEADING);
    expect(emitted).toEqual(['ClusterReady']);
  });

  it('refuses what it could not guard: a class instance (methods on its prototype) or a value', () => {
    class Client {
      async write() {}
    }
    const signal = new AbortController().signal;
    expect(() => guardWrites({ client: new Client() }, signal)).toThrow(/writes.client must be a plain object/);
    expect(() => guardWrites({ limit: 3 }, signal)).toThrow(/writes.limit is not a write/);
  });
});
