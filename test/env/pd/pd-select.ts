// Which PD the test environment runs: the real pd-server v8.5.5 when a binary is present
// (a developer's prebuilt one, via KUBE_TEST_ASSETS or the build cache), otherwise the
// TypeScript PD stand-in. CI machines cannot build pd-server (the Go module proxy answers
// 403 for PD v8.5.5, see testenv/NOTES.md), so CI runs the stand-in. TESTENV_PD=real|standin
// forces a choice; `real` fails loudly when there is no binary.
import { join } from 'node:path';
import { isExecutable, PD_BINARY } from '../binaries.js';
import { type PDClusterHandle, startPDCluster } from './pd.js';
import { startPDStandinCluster } from './pd-standin.js';
import { loadProtoDirs } from './pdpb.js';

export type PDKind = 'real' | 'standin';

export function choosePDKind(binDir: string, env: Record<string, string | undefined> = process.env): PDKind {
  const wanted = env.TESTENV_PD?.trim() || 'auto';
  const hasBinary = isExecutable(join(binDir, PD_BINARY));
  if (wanted === 'standin') return 'standin';
  if (wanted === 'real') {
    if (!hasBinary) throw new Error(`TESTENV_PD=real but ${join(binDir, PD_BINARY)} is missing; point KUBE_TEST_ASSETS at a directory with pd-server v8.5.5`);
    return 'real';
  }
  if (wanted !== 'auto') throw new Error(`TESTENV_PD must be real, standin or auto, not "${wanted}"`);
  return hasBinary ? 'real' : 'standin';
}

export interface StartPDOptions {
  binDir: string;
  dir: string;
  members?: number;
  log?: (s: string) => void;
}

export async function startPD(opts: StartPDOptions): Promise<{ kind: PDKind; handle: PDClusterHandle }> {
  const kind = choosePDKind(opts.binDir);
  if (kind === 'real') return { kind, handle: await startPDCluster(opts) };
  opts.log?.(`PD: using the PD stand-in (a TypeScript imitation of pd-server v8.5.5; no ${PD_BINARY} in ${opts.binDir})`);
  return { kind, handle: await startPDStandinCluster({ ...opts, protoDirs: loadProtoDirs(opts.binDir) }) };
}

