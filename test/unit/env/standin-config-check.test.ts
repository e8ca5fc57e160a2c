// The node stand-ins' pd-server and tikv-server read a config file like the v8.5.5 binaries
// (test/env/node/standin/config-check.ts): `--config-check` answers with their messages and
// exit codes, and a normal start fails (or not) the same way. Run as the programs themselves.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../env/binaries.js';
import { inspectConfig, PD_SCHEMA, TIKV_SCHEMA } from '../../env/node/standin/config-check.js';

const TSX = pathToFileURL(createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx')).href;
const dir = mkdtempSync(join(tmpdir(), 'standin-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function run(program: 'pd-server' | 'tikv-server', toml: string, args: string[] = ['--config-check']) {
  const file = join(dir, `c${n++}.toml`);
  writeFileSync(file, toml);
  const r = spawnSync(process.execPath, ['--import', TSX, join(REPO_ROOT, `test/env/node/standin/${program}.ts`), `--config=${file}`, ...args], {
    encoding: 'utf8',
    env: { ...process.env, TSX_TSCONFIG_PATH: join(REPO_ROOT, 'tsconfig.json') },
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr, file };
}

describe('stand-in pd-server: --config-check like pd-server v8.5.5', () => {
  it('prints "config check successful" for a good file, the undefined items for a typo, exit 0 both times', () => {
    expect(run('pd-server', '[log]\nlevel = "info"\n[replication]\nmax-replicas = 1\n')).toMatchObject({ code: 0, out: 'config check successful\n' });
    const typo = run('pd-server', '[replication]\nmax-replica = 1\n[schedule]\nmax-store-down-tim = "30m"\n');
    expect(typo).toMatchObject({ code: 0, out: 'Config contains undefined item: replication.max-replica, schedule.max-store-down-tim\n' });
  });

  it('a wrong type: the decode error and exit 0 (as measured), with or without --config-check', () => {
    for (const args of [['--config-check'], ['--name=x']]) {
      const r = run('pd-server', '[log]\nlevel = 5\n', args);
      expect(r.code, args.join()).toBe(0);
      expect(r.err).toContain('["parse cmd flags error"] [error="toml: cannot load TOML value of type int64 into a Go string"]');
    }
  });
});

describe('stand-in tikv-server: --config-check like tikv-server v8.5.5', () => {
  it('prints "config check successful", or ends with the unknown options and exit 1', () => {
    expect(run('tikv-server', '[storage]\nreserve-space = "0MB"\n[raftstore]\ncapacity = "1GiB"\n')).toMatchObject({ code: 0, out: 'config check successful\n' });
    const typo = run('tikv-server', '[log]\nlevl = "warn"\n[storage.block-cach]\ncapacity = "1GiB"\n');
    expect(typo.code).toBe(1);
    expect(typo.err).toContain('[FATAL]');
    expect(typo.err).toContain('unknown configuration options: log.levl, storage.block-cach');
  });

  it('a wrong type panics (exit 101) in both modes', () => {
    for (const args of [['--config-check'], ['--pd=http://127.0.0.1:1']]) {
      const r = run('tikv-server', '[log]\nlevel = 5\n', args);
      expect(r.code, args.join()).toBe(101);
      expect(r.err).toContain(`invalid auto generated configuration file ${r.file}, err invalid type: integer \`5\`, expected a string for key \`log.level\``);
    }
  });
});

describe('inspectConfig', () => {
  it('finds unknown keys in known sections, accepts any key in open ones, and the first wrong type', () => {
    expect(inspectConfig({ server: { anything: 1 }, log: { level: 'x', levl: 'y' }, nope: {} }, TIKV_SCHEMA)).toEqual({ unknown: ['log.levl', 'nope'] });
    expect(inspectConfig({ schedule: { 'low-space-ratio': 1 } }, PD_SCHEMA)).toEqual({ unknown: [] });
    expect(inspectConfig({ log: 'info' }, PD_SCHEMA).typeError).toEqual({ key: 'log', want: 'table', got: 'string' });
    expect(inspectConfig({ replication: { 'max-replicas': '3' } }, PD_SCHEMA).typeError).toEqual({ key: 'replication.max-replicas', want: 'integer', got: 'string' });
  });
});
