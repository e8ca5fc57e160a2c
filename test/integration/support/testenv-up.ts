// `npm run testenv -- up` as a person runs it: a child process in its own process group
// (a terminal's foreground job), its output read as it comes, signalled the ways a
// terminal and a process manager signal it.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../env/binaries.js';
import { TSX_LOADER } from '../../env/playground.js';
import { pidAlive, waitFor } from '../../env/process.js';

export interface UpProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  /** Resolves with the first match of `re` in the output (fails if the process exits first). */
  waitForOutput(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** The environment's temp dir, from its "starting in" line. */
  dir(): string;
  /** Every PID the environment recorded in its pid files. */
  componentPids(): number[];
  /** Exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs the process group (test cleanup). */
  kill(): void;
}

/** `node --import tsx test/env/cli.ts up …`, which is what `npm run testenv -- up …` runs. */
export function startUp(args: string[], env: NodeJS.ProcessEnv = process.env): UpProcess {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, join(REPO_ROOT, 'test/env/cli.ts'), 'up', ...args], {
    cwd: REPO_ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not start testenv up');
  const pid = child.pid;
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const dir = () => {
    const m = /\[testenv\] starting in (\S+)/.exec(out);
    if (!m?.[1]) throw new Error(`no "starting in" line in the output so far:\n${out}`);
    return m[1];
  };
  return {
    child,
    pid,
    output: () => out,
    waitForOutput: (re, timeoutMs) =>
      waitFor(
        `testenv up to print ${re}`,
        async () => {
          const m = re.exec(out);
          if (m) return m;
          if (done) throw new Error(`testenv up exited before printing ${re}:\n${out}`);
          return undefined;
        },
        { timeoutMs, intervalMs: 100 },
      ).catch((e: Error) => {
        throw new Error(`${e.message}\noutput so far:\n${out}`);
      }),
    dir,
    componentPids: () => {
      const d = dir();
      if (!existsSync(d)) return [];
      return readdirSync(d, { recursive: true, encoding: 'utf8' })
        .filter((f) => f === 'pids' || f.endsWith('/pids'))
        .flatMap((f) => readFileSync(join(d, f), 'utf8').split('\n'))
        .map(Number)
        .filter((p) => Number.isInteger(p) && p > 0);
    },
    exited,
    kill: () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}

/** PIDs of `pids` that still run (a zombie waiting for init to reap it does not). */
export const stillRunning = (pids: number[]) =>
  pids.filter((p) => {
    if (!pidAlive(p)) return false;
    try {
      // /proc/<pid>/stat: "pid (comm) state ..."; comm may contain spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  });
