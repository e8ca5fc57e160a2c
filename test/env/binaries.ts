// Locates the upstream binaries of the test environment (built by testenv/build.sh, or
// prebuilt ones named by KUBE_TEST_ASSETS / KUBEBUILDER_ASSETS) and the module paths the
// build recorded next to them in paths.env (kwok stage YAMLs, kvproto protos, ...).
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BUILD_SCRIPT = join(REPO_ROOT, 'testenv/build.sh');

export const CONTROL_PLANE_BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
export const PD_BINARY = 'pd-server';

/** Keys of paths.env (all optional in the file; the harness checks the ones it needs). */
export type TestEnvPaths = Partial<
  Record<'KWOK_STAGES_DIR' | 'KVPROTO_DIR' | 'KVPROTO_INCLUDE_DIR' | 'GOGOPROTO_DIR' | 'PROTO_INCLUDE_DIRS', string>
> &
  Record<string, string>;

export interface Binaries {
  binDir: string;
  paths: TestEnvPaths;
  /** Absolute path of one binary. */
  bin(name: string): string;
}

const HOW_TO_FIX = [
  'Build them with `npm run testenv -- build` (needs Go >= 1.26 and access to the Go module proxy; a cold build takes',
  'a while, later runs reuse the cache), or point KUBE_TEST_ASSETS at a directory that already holds',
  `${[...CONTROL_PLANE_BINARIES, PD_BINARY].join(', ')} (plus a paths.env with KWOK_STAGES_DIR=<kwok module>/kustomize/stage).`,
].join('\n');

export class MissingBinariesError extends Error {
  constructor(what: string) {
    super(`The test environment is not available: ${what}\n${HOW_TO_FIX}`);
    this.name = 'MissingBinariesError';
  }
}

function binDirFromBuildScript(): string {
  try {
    return execFileSync('bash', [BUILD_SCRIPT, '--print-dir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    throw new MissingBinariesError(`\`bash ${BUILD_SCRIPT} --print-dir\` failed: ${(e as Error).message}`);
  }
}

/** Parses `KEY=value` lines (no quoting, `#` comments), as build.sh writes them. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined && m[2].trim() !== '') out[m[1]] = m[2].trim();
  }
  return out;
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the bin dir and checks that every binary in `need` is there (and, for kwok, that
 * its stage YAMLs can be found). Throws MissingBinariesError naming what is missing.
 */
export function findBinaries(need: readonly string[] = [...CONTROL_PLANE_BINARIES, PD_BINARY]): Binaries {
  const fromEnv = process.env.KUBE_TEST_ASSETS || process.env.KUBEBUILDER_ASSETS;
  const source = fromEnv
    ? `${process.env.KUBE_TEST_ASSETS ? 'KUBE_TEST_ASSETS' : 'KUBEBUILDER_ASSETS'}=${fromEnv}`
    : 'testenv/build.sh --print-dir';
  const binDir = resolve(fromEnv ?? binDirFromBuildScript());
  if (!existsSync(binDir)) throw new MissingBinariesError(`the bin dir ${binDir} (from ${source}) does not exist.`);

  const missing = need.filter((b) => !isExecutable(join(binDir, b)));
  if (missing.length > 0) {
    throw new MissingBinariesError(`${missing.join(', ')} not found (or not executable) in ${binDir} (from ${source}).`);
  }

  const envFile = join(binDir, 'paths.env');
  const fileVars = existsSync(envFile) ? parseEnvFile(readFileSync(envFile, 'utf8')) : {};
  // Explicit environment variables win, so prebuilt binaries can come without a paths.env.
  const paths: TestEnvPaths = { ...fileVars };
  for (const key of ['KWOK_STAGES_DIR', 'KVPROTO_DIR', 'KVPROTO_INCLUDE_DIR', 'GOGOPROTO_DIR', 'PROTO_INCLUDE_DIRS']) {
    const v = process.env[key];
    if (v) paths[key] = v;
  }
  if (need.includes('kwok') && !(paths.KWOK_STAGES_DIR && existsSync(paths.KWOK_STAGES_DIR))) {
    throw new MissingBinariesError(
      `the kwok stage YAMLs were not found: KWOK_STAGES_DIR is ${paths.KWOK_STAGES_DIR ? `'${paths.KWOK_STAGES_DIR}' (no such directory)` : 'unset'} ` +
        `(looked in ${envFile} and the environment).`,
    );
  }
  return { binDir, paths, bin: (name) => join(binDir, name) };
}
