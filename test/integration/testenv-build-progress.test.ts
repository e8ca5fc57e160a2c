// `npm test` on a fresh machine builds the test-environment binaries itself; when another
// build (another worktree, a CI run) holds the cache's lock, the build says so and keeps
// saying it is waiting, instead of sitting silent for minutes. Driven against an empty
// cache dir whose lock this test holds, then stopped: nothing is built here.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILD_SCRIPT, REPO_ROOT } from '../env/binaries.js';
import { waitFor } from '../env/process.js';

describe('testenv/build.sh while another build holds the lock', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('reports that it waits, and how long, until the lock is free', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'testenv-cache-'));
    cleanups.push(() => rmSync(cache, { recursive: true, force: true }));
    const env = { ...process.env, TIKV_OPERATOR_TESTENV_CACHE: cache, TESTENV_PROGRESS_SECONDS: '1' };
    const binDir = spawnSync('bash', [BUILD_SCRIPT, '--print-dir'], { env, encoding: 'utf8' }).stdout.trim();
    expect(binDir.startsWith(`${cache}/bin-`)).toBe(true);
    mkdirSync(binDir, { recursive: true });
    // The other build: holds the lock as build.sh does (flock on fd 9 of .lock).
    const holder = spawn('flock', [join(binDir, '.lock'), 'sleep', '60'], { stdio: 'ignore', detached: true });
    cleanups.push(() => holder.pid && process.kill(-holder.pid, 'SIGKILL'));
    await waitFor('the lock to be held', async () => spawnSync('flock', ['-n', join(binDir, '.lock'), 'true']).status === 1, { timeoutMs: 10_000 });

    let out = '';
    const build = spawn('bash', [BUILD_SCRIPT, 'kwok'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    cleanups.push(() => build.pid && build.exitCode === null && process.kill(-build.pid, 'SIGKILL'));
    build.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    await waitFor('two progress lines', async () => (out.match(/still waiting for the other build/g) ?? []).length >= 2, { timeoutMs: 30_000 }).catch((e: Error) => {
      throw new Error(`${e.message}\noutput:\n${out}`);
    });
    expect(out).toContain(`[testenv] another build of the same binaries holds ${binDir}/.lock; waiting for it, then reusing what it built`);
    expect(out).toMatch(/\[testenv\] still waiting for the other build \(1s\)\n\[testenv\] still waiting for the other build \(2s\)/);
    // Nothing was built while waiting.
    expect(out).not.toContain('kwok: building');
  });
});
