// The harness starts and stops cleanly many times in a row: no child process and no port
// outlives stop(), and the temp dir is gone. PD is left out (pd:false) to keep this quick;
// PD members are spawned and stopped through the same process.ts helpers and are covered
// by the global environment of this project.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startTestEnv } from '../env/index.js';
import { canBind, pidAlive } from '../env/process.js';

const CYCLES = 10;

describe('test environment lifecycle', () => {
  it(`starts and stops ${CYCLES} times without leftover processes or ports`, { timeout: CYCLES * 120_000 }, async () => {
    const startMs: number[] = [];
    for (let i = 0; i < CYCLES; i++) {
      const t0 = Date.now();
      const env = await startTestEnv({ pd: false, nodes: 2, log: () => {} });
      startMs.push(Date.now() - t0);
      const pids = env.processes.map((p) => p.pid);
      const ports = env.processes.flatMap((p) => p.ports);
      expect(env.processes.map((p) => p.name)).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']);
      expect(pids.every(pidAlive)).toBe(true);
      // etcd client+peer, apiserver, kwok's server
      expect(ports.length).toBe(4);

      const t1 = Date.now();
      await env.stop();
      const stopMs = Date.now() - t1;
      console.log(`cycle ${i + 1}/${CYCLES}: start ${startMs[i]} ms, stop ${stopMs} ms`);

      expect(pids.filter(pidAlive)).toEqual([]);
      const busy: number[] = [];
      for (const port of ports) if (!(await canBind(port))) busy.push(port);
      expect(busy).toEqual([]);
      expect(existsSync(env.dir)).toBe(false);
    }
    const sorted = [...startMs].sort((a, b) => a - b);
    console.log(`start times over ${CYCLES} cycles: min ${sorted[0]} ms, median ${sorted[CYCLES >> 1]} ms, max ${sorted[CYCLES - 1]} ms`);
  });
});
