import { describe, expect, it } from 'vitest';
import { writeGuard } from '../../src/controller/operator.js';
import type { PDClient } from '../../src/controller/pd/client.js';

describe('writeGuard (no writes after leadership is lost)', () => {
  it('lets reads through, and writes only until the signal aborts', async () => {
    const calls: string[] = [];
    const pd = {
      health: async () => {
        calls.push('health');
        return [];
      },
      deleteStore: async (id: string) => {
        calls.push(`deleteStore ${id}`);
        return 'offline' as const;
      },
    } as unknown as PDClient;
    const abort = new AbortController();
    const guard = writeGuard(abort.signal);
    const apply = guard.wrap(async (x: number) => x * 2);
    const client = guard.pd(pd);

    expect(await apply(2)).toBe(4);
    expect(await client.deleteStore('5')).toBe('offline');
    abort.abort();
    await expect(apply(2)).rejects.toThrow(/no longer the leader/);
    await expect(client.deleteStore('6')).rejects.toThrow(/no longer the leader/);
    expect(await client.health()).toEqual([]);
    expect(calls).toEqual(['deleteStore 5', 'health']);
  });
});
