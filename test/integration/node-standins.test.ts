// The contract of the real node's pd-server and tikv-server stand-ins (test/env/node/standin),
// run as plain processes against a stand-in hub on loopback: the flags the charts pass and
// PD's and TiKV's start-up rules, as pd-server v8.5.5 (server/join/join.go, etcd's
// bootstrap) and tikv-server v8.5.5 (node start: put_store, the store ident in the data dir)
// behave. The e2e on the real node runs the same programs in pods.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinaries, REPO_ROOT } from '../env/binaries.js';
import { type StandinHub, startStandinHub } from '../env/node/standin/hub.js';
import { loadProtoDirs } from '../env/pd/pdpb.js';
import { freePorts, LOOPBACK, type ManagedProcess, waitFor } from '../env/process.js';

/** `node --import tsx`, so the program is the process that gets the signals. */
const TSX_LOADER = pathToFileURL(createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx')).href;
const PD = join(REPO_ROOT, 'test/env/node/standin/pd-server.ts');
const TIKV = join(REPO_ROOT, 'test/env/node/standin/tikv-server.ts');

interface Run {
  proc: ChildProcess;
  out: () => string;
  exit: Promise<number | null>;
}

describe('the real node stand-ins: pd-server and tikv-server as processes', () => {
  let hub: StandinHub;
  let dir: string;
  let kvprotoDir: string;
  const running: Run[] = [];
  const ports = new Map<string, number[]>();

  const start = (program: string, args: string[]): Run => {
    const proc = spawn(process.execPath, ['--import', TSX_LOADER, program, ...args], {
      // TIKV_STANDIN_NO_DNS: the pods' DNS names do not exist on this host (the node e2e covers the DNS rule).
      env: { ...process.env, TIKV_STANDIN_NO_DNS: '1', TIKV_STANDIN_HUB: hub.address, TIKV_STANDIN_PROTO_DIR: kvprotoDir, TSX_TSCONFIG_PATH: join(REPO_ROOT, 'tsconfig.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const run = { proc, out: () => out, exit: new Promise<number | null>((r) => proc.once('exit', (code) => r(code))) };
    running.push(run);
    return run;
  };
  /** For waitFor's fail-fast: the run as a ManagedProcess-like view, its output in the error. */
  const asProc = (r: Run) =>
    ({
      name: `stand-in (output: ${r.out().slice(-2000)})`,
      exitStatus: () => (r.proc.exitCode === null ? undefined : `exit code ${r.proc.exitCode}\n${r.out().slice(-2000)}`),
    }) as unknown as ManagedProcess;
  const stop = async (r: Run) => {
    r.proc.kill('SIGTERM');
    return r.exit;
  };

  // PD member i: client and peer ports on loopback, advertised peer URL in the test's "peer Service".
  const client = (i: number) => `http://${LOOPBACK}:${ports.get('pd')![2 * i]}`;
  const peer = (i: number) => `http://t-pd-${i}.t-pd-peer.e2e.svc:${ports.get('pd')![2 * i + 1]}`;
  const initialCluster = () => [0, 1, 2].map((i) => `t-pd-${i}=${peer(i)}`).join(',');
  const pdArgs = (i: number, extra: string[]) => [
    `--name=t-pd-${i}`,
    `--data-dir=${join(dir, `pd-${i}`)}`,
    `--client-urls=${client(i)}`,
    `--advertise-client-urls=${client(i)}`,
    `--peer-urls=http://${LOOPBACK}:${ports.get('pd')![2 * i + 1]}`,
    `--advertise-peer-urls=${peer(i)}`,
    `--config=${join(dir, 'pd.toml')}`,
    ...extra,
  ];
  const tikvArgs = (i: number) => [
    `--pd=${client(0)},${client(1)}`,
    `--addr=${LOOPBACK}:${ports.get('tikv')![2 * i]}`,
    `--advertise-addr=t-tikv-${i}.t-tikv-peer.e2e.svc:20160`,
    `--status-addr=${LOOPBACK}:${ports.get('tikv')![2 * i + 1]}`,
    `--advertise-status-addr=t-tikv-${i}.t-tikv-peer.e2e.svc:20180`,
    `--data-dir=${join(dir, `tikv-${i}`)}`,
    `--config=${join(dir, 'tikv.toml')}`,
  ];
  const pdGet = async (i: number, path: string) => {
    const res = await fetch(`${client(i)}/pd/api/v1${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  };
  const members = async (i: number) => JSON.parse((await pdGet(i, '/members')).body) as { members: { name: string; member_id: number }[]; leader?: { name: string } };
  /** Member ids as text: PD sends uint64s, which JSON.parse would round. */
  const memberIds = async (i: number) => Object.fromEntries([...(await pdGet(i, '/members')).body.matchAll(/"name":"([^"]+)","member_id":(\d+)/g)].map((m) => [m[1], m[2]]));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'node-standins-'));
    // PD reads replication settings from pd.toml at bootstrap: one replica, so one store can be removed.
    writeFileSync(join(dir, 'pd.toml'), '[replication]\nmax-replicas = 1\n');
    writeFileSync(join(dir, 'tikv.toml'), '[raftstore]\ncapacity = "5120MiB"\n');
    ports.set('pd', await freePorts(8));
    ports.set('tikv', await freePorts(6));
    const protoDirs = loadProtoDirs(findBinaries([]).binDir);
    kvprotoDir = protoDirs.kvprotoDir;
    hub = await startStandinHub({ host: LOOPBACK, dir, protoDirs, log: () => {} });
  });

  afterAll(async () => {
    for (const r of running) r.proc.kill('SIGKILL');
    await hub?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let pd0: Run;
  let pd1: Run;
  let pd2: Run;

  it('pd-server refuses a flag PD does not have, as cobra does (exit 1)', async () => {
    const r = start(PD, ['--name=x', '--bogus=1']);
    expect(await r.exit).toBe(1);
    expect(r.out()).toContain('unknown flag: --bogus');
  });

  it('bootstraps with --initial-cluster: no leader until a majority of the listed members runs, then one leader', async () => {
    pd0 = start(PD, pdArgs(0, [`--initial-cluster=${initialCluster()}`]));
    await waitFor('pd-0 serving', async () => (await pdGet(0, '/health')).status === 200, { timeoutMs: 120_000, proc: asProc(pd0) }).catch((e: Error) => {
      throw new Error(`${e.message}\n${pd0.out()}`);
    });
    const health = JSON.parse((await pdGet(0, '/health')).body) as { name: string; health: boolean }[];
    expect(health.map((h) => [h.name, h.health])).toEqual(expect.arrayContaining([['t-pd-0', true], ['t-pd-1', false], ['t-pd-2', false]]));
    // Requests that need the leader wait for one, then fail like PD's redirector.
    expect(await pdGet(0, '/leader')).toMatchObject({ status: 503 });
    pd1 = start(PD, pdArgs(1, [`--initial-cluster=${initialCluster()}`]));
    pd2 = start(PD, pdArgs(2, [`--initial-cluster=${initialCluster()}`]));
    await waitFor('a leader and 3 healthy members', async () => {
      const h = JSON.parse((await pdGet(2, '/health')).body) as { health: boolean }[];
      return h.length === 3 && h.every((m) => m.health) && (await members(1)).leader !== undefined;
    }, { timeoutMs: 60_000 });
    const a = await members(0);
    const b = await members(2);
    expect(a.leader?.name).toBe(b.leader?.name);
    expect(readFileSync(join(dir, 'pd-1/member/standin-member.json'), 'utf8')).toContain('"name":"t-pd-1"');
    expect(existsSync(join(dir, 'pd-1/member/wal'))).toBe(true);
  });

  it('restarts from its data as the same member, with neither --initial-cluster nor --join; SIGTERM exits 0', async () => {
    const ids = await memberIds(0);
    expect(await stop(pd1)).toBe(0);
    pd1 = start(PD, pdArgs(1, []));
    await waitFor('pd-1 healthy again', async () => (JSON.parse((await pdGet(1, '/health')).body) as { health: boolean }[]).every((m) => m.health), { timeoutMs: 60_000 });
    expect(pd1.out()).toContain('restarted from its data');
    expect(await memberIds(1)).toEqual(ids);
  });

  it('a listed member that lost its data cannot join again ("missing data or join a duplicated pd") nor bootstrap again', async () => {
    expect(await stop(pd2)).toBe(0);
    rmSync(join(dir, 'pd-2'), { recursive: true, force: true });
    const join2 = start(PD, pdArgs(2, [`--join=${client(0)}`]));
    expect(await join2.exit).toBe(1);
    expect(join2.out()).toContain('[FATAL]');
    expect(join2.out()).toContain('["join meet error"] [error="missing data or join a duplicated pd"]');
    const boot2 = start(PD, pdArgs(2, [`--initial-cluster=${initialCluster()}`]));
    expect(await boot2.exit).toBe(1);
    expect(boot2.out()).toMatch(/member [0-9a-f]+ has already been bootstrapped/);
  });

  it('once PD no longer lists it (member delete), the same name joins as a new member and its etcd /health answers 200', async () => {
    // PD's JSON is indented; ids are uint64s, read as text.
    const idOf = async (name: string) => new RegExp(`"name":\\s*"${name}",\\s*"member_id":\\s*(\\d+)`).exec((await pdGet(0, '/members')).body)?.[1];
    const oldId = await idOf('t-pd-2');
    expect(oldId).toMatch(/^\d+$/);
    const del = await fetch(`${client(0)}/pd/api/v1/members/name/t-pd-2`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    rmSync(join(dir, 'pd-2'), { recursive: true, force: true });
    const again = start(PD, pdArgs(2, [`--join=${client(0)}`]));
    await waitFor('t-pd-2 healthy again', async () => JSON.parse((await pdGet(0, '/health')).body).some((m: { name: string; health: boolean }) => m.name === 't-pd-2' && m.health), {
      timeoutMs: 60_000,
    });
    const newId = await idOf('t-pd-2');
    expect(newId).toMatch(/^\d+$/);
    expect(newId).not.toBe(oldId);
    const etcd = await fetch(`${client(2)}/health`);
    expect(etcd.status).toBe(200);
    expect(again.out()).toContain('joined the cluster');
  });

  it('a fresh name joins with --join and PD writes data-dir/join', async () => {
    const pd3 = start(PD, pdArgs(3, [`--join=${client(0)}`]));
    await waitFor('t-pd-3 listed', async () => (await members(0)).members.some((m) => m.name === 't-pd-3'), { timeoutMs: 60_000 });
    await waitFor('t-pd-3 serving', async () => (await pdGet(3, '/health')).status === 200, { timeoutMs: 60_000 });
    expect(readFileSync(join(dir, 'pd-3/join'), 'utf8')).toContain('t-pd-3=');
    expect(pd3.out()).toContain('joined the cluster');
  });

  it('tikv-server bootstraps the cluster through --pd, keeps its store id in --data-dir, and serves 20160/20180', async () => {
    const t0 = start(TIKV, tikvArgs(0));
    await waitFor('store 0 ready', async () => t0.out().includes('TiKV is ready to serve'), { timeoutMs: 90_000, proc: asProc(t0) });
    expect(t0.out()).toContain('bootstrapped the cluster as store');
    const id = (JSON.parse(readFileSync(join(dir, 'tikv-0/standin-store.json'), 'utf8')) as { storeId: string }).storeId;
    const status = await fetch(`http://${LOOPBACK}:${ports.get('tikv')![1]}/status`);
    expect(status.status).toBe(200);
    expect(await stop(t0)).toBe(0);
    const again = start(TIKV, tikvArgs(0));
    await waitFor('store 0 ready again', async () => again.out().includes('TiKV is ready to serve'), { timeoutMs: 90_000, proc: asProc(again) });
    expect(again.out()).toContain(`registered as store ${id}`);
  });

  it('tikv-server refuses to start as a store PD has made a Tombstone', async () => {
    const t1 = start(TIKV, tikvArgs(1));
    await waitFor('store 1 ready', async () => t1.out().includes('TiKV is ready to serve'), { timeoutMs: 90_000, proc: asProc(t1) });
    const id = (JSON.parse(readFileSync(join(dir, 'tikv-1/standin-store.json'), 'utf8')) as { storeId: string }).storeId;
    const del = await fetch(`${client(0)}/pd/api/v1/store/${id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    let last = '';
    await waitFor(
      'store 1 Tombstone',
      async () => {
        last = (await pdGet(0, `/store/${id}`)).body;
        return (JSON.parse(last) as { store: { state_name: string } }).store.state_name === 'Tombstone';
      },
      { timeoutMs: 30_000 },
    ).catch((e: Error) => {
      throw new Error(`${e.message}; PD says ${last}`);
    });
    // Like TiKV, the running process does not exit by itself; its pod goes when the operator scales it in.
    expect(t1.proc.exitCode).toBeNull();
    expect(await stop(t1)).toBe(0);
    const back = start(TIKV, tikvArgs(1));
    expect(await back.exit).toBe(1);
    expect(back.out()).toContain('failed to start raft_server: store is tombstone');
  });
});
