// What the operator process loads. client-node's index, KubeConfig (config.js), ListWatch
// (cache.js) and Watch (watch.js) modules pull in its generated API, model serializer or
// node-fetch: about 70 MiB of RSS the operator does not use. Counted from the scripts V8
// parses while `tikv-operator run`'s module is imported, in a fresh process.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PROBE = `
import { Session } from 'node:inspector/promises';
const session = new Session();
session.connect();
const urls = [];
session.on('Debugger.scriptParsed', ({ params }) => urls.push(params.url));
await session.post('Debugger.enable');
await import('./src/cli/run.ts');
await session.post('Debugger.disable');
process.stdout.write(JSON.stringify(urls.filter((u) => u.includes('/node_modules/'))));
`;

describe('the operator module graph', () => {
  it('loads client-node only for kubeconfig parsing and authentication, not its generated API', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', PROBE], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    const urls = JSON.parse(r.stdout) as string[];
    const clientNode = urls.filter((u) => u.includes('/@kubernetes/client-node/')).map((u) => u.slice(u.indexOf('/dist/') + 1));
    expect(clientNode.sort()).toEqual(['dist/config_types.js', 'dist/exec_auth.js', 'dist/file_auth.js']);
    expect(urls.filter((u) => /\/node_modules\/(node-fetch|openid-client|@azure|google-auth)/.test(u))).toEqual([]);
    // cdk8s is loaded too (the charts), and so are pino, prom-client and zod: used, not skipped.
    expect(urls.some((u) => u.includes('/node_modules/cdk8s-plus-28/'))).toBe(true);
  });
});
