// Stopping `npm run testenv -- up` leaves nothing behind, whatever signal arrives how
// often: Ctrl-C (SIGINT to the whole foreground process group) once or impatiently
// several times, SIGTERM from a process manager, SIGHUP from a closed terminal, and even
// SIGKILL, which no handler sees (the environment's watchdog kills the components). Each
// case starts its own environment (control plane and one node, no PD: the signal path
// is the same) and checks that every recorded component PID is gone and the temp dir
// removed. How long each stop took is printed, not asserted.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../env/process.js';
import { startUp, stillRunning, type UpProcess } from './support/testenv-up.js';

type Send = (up: UpProcess) => Promise<void>;

/** Sends `signal`; a process already gone (ESRCH) is what some cases lead to, not an error here. */
function send(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}
const toGroup = (signal: NodeJS.Signals) => (up: UpProcess) => send(-up.pid, signal);
const toProcess = (signal: NodeJS.Signals) => (up: UpProcess) => send(up.pid, signal);

describe('stopping testenv up', () => {
  let up: UpProcess | undefined;
  afterEach(() => {
    up?.kill();
    up = undefined;
  });

  const cases: Array<[string, Send, { exitCode: number | null }]> = [
    ['Ctrl-C once (SIGINT to the group)', async (u) => toGroup('SIGINT')(u), { exitCode: 0 }],
    [
      'Ctrl-C three times, then SIGTERM (an impatient person and a process manager)',
      async (u) => {
        toGroup('SIGINT')(u);
        await sleep(50);
        toGroup('SIGINT')(u);
        await sleep(50);
        toGroup('SIGINT')(u);
        toProcess('SIGTERM')(u);
      },
      // The second signal cuts the graceful stop short: everything is killed at once.
      { exitCode: 1 },
    ],
    ['SIGTERM to the process', async (u) => toProcess('SIGTERM')(u), { exitCode: 0 }],
    ['SIGHUP to the process (the terminal closed)', async (u) => toProcess('SIGHUP')(u), { exitCode: 0 }],
    ['SIGKILL to the process (no handler runs; the watchdog cleans up)', async (u) => toProcess('SIGKILL')(u), { exitCode: null }],
  ];

  it.each(cases)('%s', async (name, signal, want) => {
    up = startUp(['--no-pd', '--nodes', '1']);
    await up.waitForOutput(/Press Ctrl-C to stop\./, 120_000);
    const dir = up.dir();
    const pids = up.componentPids();
    // etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
    expect(pids.length, up.output()).toBe(5);
    expect(stillRunning(pids)).toEqual(pids);

    const t0 = Date.now();
    await signal(up);
    const exit = await up.exited;
    expect(exit.code, up.output()).toBe(want.exitCode);
    await waitFor('every component to be gone and the temp dir removed', async () => stillRunning(pids).length === 0 && !existsSync(dir), {
      timeoutMs: 30_000,
      intervalMs: 100,
    }).catch((e: Error) => {
      throw new Error(`${e.message}: still running ${JSON.stringify(stillRunning(pids))}, dir ${existsSync(dir) ? 'kept' : 'gone'}\n${up?.output()}`);
    });
    console.log(`[signals] ${name}: everything gone ${((Date.now() - t0) / 1000).toFixed(1)}s after the signal`);
  });
});
