// Child-process plumbing for the test environment: free loopback ports, spawning with
// one log file per component, readiness polling with deadlines, and teardown by PID.
// Every child gets its own process group (detached) so a stop reaches anything it forked,
// and nothing is ever looked up or killed by name.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const LOOPBACK = '127.0.0.1';

/** A port the kernel just handed out on 127.0.0.1 (closed again; the caller binds it next). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, LOOPBACK, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Distinct free ports (ports handed out in one batch are held until all are known). */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Whether 127.0.0.1:port can be bound right now. */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, LOOPBACK, () => srv.close(() => resolve(true)));
  });
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Ports the component listens on, recorded so teardown checks can verify they are free. */
  readonly ports: number[];
  /** Exit code or signal once the process has exited. */
  exitStatus(): string | undefined;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Every live child of this Node process, so an abrupt exit can still kill them. */
const live = new Set<ChildProcess>();
/** Temp dirs to remove if this process exits before their owner cleaned up. */
const dirsToRemove = new Set<string>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL whatever is still running.
  process.on('exit', () => {
    for (const child of live) if (child.pid) killGroup(child.pid, 'SIGKILL');
    for (const dir of dirsToRemove) rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * Removes `dir` when this Node process exits (e.g. vitest interrupted with Ctrl-C before
 * its teardown ran). Returns a function that cancels this, for a normal cleanup or to keep
 * the logs of a failed start.
 */
export function removeOnExit(dir: string): () => void {
  installExitHook();
  dirsToRemove.add(dir);
  return () => dirsToRemove.delete(dir);
}

/**
 * SIGKILLs every child still running (each one's whole process group) and removes the
 * registered temp dirs, synchronously: the last resort when a graceful stop is cut short.
 * Returns how many children were signalled.
 */
export function killAllNow(): number {
  let n = 0;
  for (const child of live) {
    if (!child.pid) continue;
    killGroup(child.pid, 'SIGKILL');
    n++;
  }
  for (const dir of dirsToRemove) rmSync(dir, { recursive: true, force: true });
  dirsToRemove.clear();
  return n;
}

/**
 * A watchdog for the case no handler can cover: this Node process dies without running
 * its exit hook (SIGKILL, the OOM killer, or tsx's CLI wrapper SIGKILLing its child when
 * a signal relay times out on a loaded machine). A detached shell polls this PID once a
 * second; once it is gone, it SIGKILLs every process recorded in `dir`'s pid files that
 * still runs in its log dir (the PID-reuse guard of reapOrphans) and removes `dir` if it
 * killed any. Returns a function that ends the watchdog (after a normal stop).
 */
export function startWatchdog(dir: string): () => void {
  const script = `
owner=$1; dir=$2
while kill -0 "$owner" 2>/dev/null; do sleep 1; done
killed=0
for f in $(find "$dir" -name ${PID_FILE} 2>/dev/null); do
  d=$(dirname "$f")
  while read -r p; do
    [ -n "$p" ] || continue
    if [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$d" ]; then kill -9 "-$p" 2>/dev/null; killed=1; fi
  done < "$f"
done
[ "$killed" = 1 ] && rm -rf "$dir"
exit 0`;
  const child = spawn('sh', ['-c', script, 'testenv-watchdog', String(process.pid), dir], { stdio: 'ignore', detached: true });
  child.unref();
  child.on('error', () => {});
  return () => {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
}

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'SIGQUIT';
export const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

export interface StopOnSignalOptions {
  /** The graceful stop, run once on the first signal. */
  stop: () => Promise<void>;
  /** After this long the graceful stop is cut short: everything is SIGKILLed. */
  deadlineMs: number;
  log: (s: string) => void;
  /** Called instead of process.exit (tests). */
  exit?: (code: number) => void;
}

/**
 * Stops on the first SIGINT, SIGTERM, SIGHUP or SIGQUIT, to the process or its group,
 * however many arrive: the handlers stay installed (a `once` handler would let the second
 * Ctrl-C kill the process the default way, which runs no exit hook and orphans every
 * child). The first signal starts the graceful stop; another signal, or the deadline,
 * SIGKILLs every child at once. Resolves with the first signal.
 */
export function stopOnSignal(o: StopOnSignalOptions): Promise<StopSignal> {
  const exit = o.exit ?? ((code: number) => process.exit(code));
  // A closed terminal (SIGHUP) makes writes fail; the stop must go on regardless.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  const say = (s: string) => {
    try {
      o.log(s);
    } catch {
      // nowhere to write to
    }
  };
  return new Promise((resolve) => {
    let first: StopSignal | undefined;
    const hardStop = (why: string) => {
      const n = killAllNow();
      say(`${why}: killed ${n} process group(s) at once`);
      exit(1);
    };
    const onSignal = (signal: StopSignal) => {
      if (first) return hardStop(`${signal} while stopping`);
      first = signal;
      resolve(signal);
      say(`${signal}: stopping (send it again to kill everything at once)`);
      const deadline = setTimeout(() => hardStop(`still stopping after ${o.deadlineMs / 1000}s`), o.deadlineMs);
      deadline.unref();
      o.stop().then(
        () => {
          clearTimeout(deadline);
          exit(0);
        },
        (e: unknown) => {
          clearTimeout(deadline);
          say(`stop failed: ${(e as Error).message}`);
          hardStop('stop failed');
        },
      );
    };
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
  });
}

/** Every spawned PID is recorded in `<logDir>/pids`, for reapOrphans. */
const PID_FILE = 'pids';

export interface SpawnOptions {
  /** Log directory; also the child's working directory (reapOrphans relies on that). */
  logDir: string;
  env?: NodeJS.ProcessEnv;
  ports?: number[];
}

/** Starts `bin args` in its own process group with stdout+stderr appended to `<logDir>/<name>.log`. */
export function spawnLogged(name: string, bin: string, args: string[], opts: SpawnOptions): ManagedProcess {
  installExitHook();
  const logPath = join(opts.logDir, `${name}.log`);
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, args, {
      cwd: opts.logDir,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${name} (${bin}); see ${logPath}`);
  live.add(child);
  appendFileSync(join(opts.logDir, PID_FILE), `${pid}\n`);
  let status: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      status = signal ? `signal ${signal}` : `exit code ${code}`;
      live.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      status = `spawn error: ${err.message}`;
      live.delete(child);
      resolve();
    });
  });

  const stop = async (graceMs = 10_000) => {
    if (status !== undefined) return;
    killGroup(pid, 'SIGTERM');
    const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) {
      killGroup(pid, 'SIGKILL');
      await exited;
    }
    // Children the component forked itself may outlive it; the group kill reaches them.
    killGroup(pid, 'SIGKILL');
  };
  return { name, pid, logPath, ports: opts.ports ?? [], exitStatus: () => status, exited, stop };
}

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Fail at once if this process exits while waiting. */
  proc?: ManagedProcess;
}

/**
 * Polls `check` until it returns a value other than undefined/false. Exceptions count as
 * "not yet"; the last one is reported on timeout.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, opts: WaitOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  for (;;) {
    const status = opts.proc?.exitStatus();
    if (status !== undefined) throw new Error(`${opts.proc?.name} exited (${status}) while waiting for ${what}`);
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: last error: ${last.message}` : '';
      throw new TimeoutError(`timed out after ${opts.timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}

/** The last `lines` lines of a log file ('' if unreadable). */
export function tailFile(path: string, lines = 40): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '';
  }
}

/** A header plus the tail of each process's log, for failure reports. */
export function formatLogTails(procs: readonly ManagedProcess[], lines = 40): string {
  return procs
    .map((p) => `----- ${p.name} (pid ${p.pid}, ${p.exitStatus() ?? 'running'}) ${p.logPath} -----\n${tailFile(p.logPath, lines)}`)
    .join('\n');
}

/** Whether a PID still exists (signal 0 probes without sending anything). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Whether `pid` is still the process we spawned there (its cwd); guards against PID reuse. */
function runsIn(pid: number, dir: string): boolean {
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === dir;
  } catch {
    return false;
  }
}

/**
 * Kills the recorded children of an environment whose owning Node process is gone (it was
 * SIGKILLed, so neither stop() nor the exit hook ran). Only PIDs from the dir's `pids`
 * files whose working directory is still that dir are signalled. Returns how many.
 */
export function reapOrphans(dir: string): number {
  let killed = 0;
  const pidFiles = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f === PID_FILE || f.endsWith(`/${PID_FILE}`));
  for (const rel of pidFiles) {
    const logDir = join(dir, rel, '..');
    for (const line of readFileSync(join(dir, rel), 'utf8').split('\n')) {
      const pid = Number(line);
      if (Number.isInteger(pid) && pid > 0 && runsIn(pid, logDir)) {
        killGroup(pid, 'SIGKILL');
        killed++;
      }
    }
  }
  return killed;
}
