// The images the real node runs, built on this machine with no registry and no image
// builder (oci.ts writes the OCI layouts), and cached by a hash of their inputs:
//
//   tikv-operator:dev   what the Dockerfile builds: the Node runtime (this machine's node,
//                       at distroless's /nodejs/bin/node, with the glibc it links), the
//                       production dependencies from package-lock.json (`npm ci --omit=dev`,
//                       the tree `npm prune --omit=dev` leaves), dist/src compiled by tsc
//                       with tsconfig.build.json; user 65532:65532, the same entrypoint, and
//                       the Dockerfile's smoke test before it is packed;
//   pingcap/pd:<v>      the contract of the real image (PingCAP-QE pd-base on Rocky Linux):
//                       /pd-server, bash as /bin/sh, busybox at /bin/busybox, getent (glibc)
//                       and nslookup (bind9, as bind-utils). /pd-server is the PD stand-in
//                       (standin/pd-server.ts bundled with esbuild), or the real pd-server
//                       when one is in the bin dir (KUBE_TEST_ASSETS);
//   pingcap/tikv:<v>    /tikv-server (the TiKV stand-in, standin/tikv-server.ts) on the same base;
//   pause               the sandbox image (testenv/node/pause).
//
// The PD and TiKV images are tagged with every version in STANDIN_VERSIONS (same layers,
// the version in the config's environment), so a version roll finds its images locally,
// as `kind load` would have put them there.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../binaries.js';
import { PAUSE_IMAGE } from './config.js';
import { type Blob, type ImageRuntimeConfig, type ImageSpec, sha256File, tarLayer, writeImageArchive } from './oci.js';

const run = promisify(execFile);

/** Bump when the way images are assembled changes (it is part of every cache key). */
const RECIPE = 'node-images-1';

export const OPERATOR_IMAGE = 'docker.io/library/tikv-operator:dev';
/** The versions the local PD and TiKV images are tagged with (the first is examples/basic.yaml's). */
export const STANDIN_VERSIONS = ['v8.5.5', 'v8.5.6'] as const;
export const pdImage = (v: string) => `docker.io/pingcap/pd:${v}`;
export const tikvImage = (v: string) => `docker.io/pingcap/tikv:${v}`;

/** Where the stand-ins find the kvproto .proto files inside the PD and TiKV images. */
export const IMAGE_PROTO_DIR = '/usr/share/tikv-standin/kvproto';
/** The environment variable carrying the image's version into the stand-ins. */
export const STANDIN_VERSION_ENV = 'TIKV_STANDIN_VERSION';

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const NODE_IN_IMAGE = '/nodejs/bin/node';

export interface NodeImage {
  /** OCI layout tar for `ctr images import`. */
  archive: string;
  names: string[];
}

export interface BuildImagesOptions {
  binDir: string;
  /** Cache directory (layers and archives by input hash). */
  cacheDir: string;
  /** The kvproto module dir (proto/, include/) for the stand-ins. */
  kvprotoDir: string;
  /** A real pd-server to put into the PD image instead of the stand-in. */
  realPdServer?: string;
  log: (s: string) => void;
}

// ---- rootfs helpers -----------------------------------------------------------------------

/** The shared libraries a dynamic executable loads (absolute paths as ldd prints them), [] for a static one. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  let out: string;
  try {
    out = (await run('ldd', [binary])).stdout;
  } catch {
    return []; // "not a dynamic executable"
  }
  return parseLdd(out);
}

export function parseLdd(out: string): string[] {
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...libs];
}

/** Copies a file's content (symlinks resolved) to `root` + `at`, keeping its mode. */
function put(root: string, at: string, from: string): void {
  const target = join(root, at);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(realpathSync(from), target);
  chmodSync(target, statSync(from).mode & 0o7777);
}

/** Copies an executable and every library it loads, each at the path the loader looks for. */
async function putExecutable(root: string, at: string, from: string): Promise<void> {
  put(root, at, from);
  for (const lib of await sharedLibraries(from)) if (!existsSync(join(root, lib))) put(root, lib, lib);
}

function writeFile(root: string, at: string, content: string, mode = 0o644): void {
  const target = join(root, at);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content, { mode });
  chmodSync(target, mode);
}

function mkdir(root: string, at: string, mode = 0o755): void {
  const target = join(root, at);
  mkdirSync(target, { recursive: true });
  chmodSync(target, mode);
}

function link(root: string, at: string, to: string): void {
  const target = join(root, at);
  mkdirSync(dirname(target), { recursive: true });
  rmSync(target, { force: true });
  symlinkSync(to, target);
}

// ---- cache --------------------------------------------------------------------------------

async function hashInputs(parts: (string | { file: string })[]): Promise<string> {
  const h = createHash('sha256').update(RECIPE);
  for (const p of parts) {
    if (typeof p === 'string') h.update(`s:${p}\n`);
    else h.update(`f:${p.file}:${await sha256File(p.file)}\n`);
  }
  return h.digest('hex').slice(0, 16);
}

function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[])
    .map((r) => join(dir, r))
    .filter((p) => statSync(p).isFile())
    .sort();
}

interface Layer {
  file: string;
  blob: Blob;
}

/** A layer tar from the cache, or built by `fill(rootDir)` and packed. */
async function cachedLayer(cacheDir: string, name: string, key: string, fill: (root: string) => Promise<void>): Promise<Layer> {
  const file = join(cacheDir, 'layers', `${name}-${key}.tar`);
  const meta = `${file}.json`;
  if (existsSync(file) && existsSync(meta)) return { file, blob: JSON.parse(readFileSync(meta, 'utf8')) as Blob };
  mkdirSync(join(cacheDir, 'build'), { recursive: true });
  // A private build dir: another run may build the same layer at once (the renames are atomic).
  const root = mkdtempSync(join(cacheDir, 'build', `${name}-${key}-`));
  await fill(root);
  mkdirSync(dirname(file), { recursive: true });
  try {
    const blob = await tarLayer(root, file);
    const tmpMeta = `${meta}.${process.pid}`;
    writeFileSync(tmpMeta, JSON.stringify(blob));
    renameSync(tmpMeta, meta);
    return { file, blob };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** All images in one archive (shared layers stored and imported once), cached by its content. */
async function cachedArchive(cacheDir: string, images: ImageSpec[]): Promise<NodeImage> {
  const key = createHash('sha256')
    .update(JSON.stringify({ RECIPE, images: images.map((i) => ({ layers: i.layers.map((l) => l.blob.digest), variants: i.variants })) }))
    .digest('hex')
    .slice(0, 16);
  const archive = join(cacheDir, 'archives', `node-images-${key}.tar`);
  if (!existsSync(archive)) {
    mkdirSync(dirname(archive), { recursive: true });
    await writeImageArchive(images, archive);
  }
  return { archive, names: images.flatMap((i) => i.variants.flatMap((v) => v.names)) };
}

// ---- layers ---------------------------------------------------------------------------------

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n';
const GROUP = 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n';

/** The Node runtime every image but pause shares: node at distroless's path, its glibc, /etc basics, /tmp. */
async function runtimeLayer(o: BuildImagesOptions): Promise<Layer> {
  const nodeBin = realpathSync(process.execPath);
  const libs = await sharedLibraries(nodeBin);
  const key = await hashInputs([process.version, ...[nodeBin, ...libs].map((file) => ({ file }))]);
  return cachedLayer(o.cacheDir, 'runtime', key, async (root) => {
    await putExecutable(root, NODE_IN_IMAGE, nodeBin);
    writeFile(root, '/etc/passwd', PASSWD);
    writeFile(root, '/etc/group', GROUP);
    writeFile(root, '/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
    mkdir(root, '/tmp', 0o1777);
    mkdir(root, '/home/nonroot');
    mkdir(root, '/root', 0o700);
  });
}

const OPERATOR_INPUTS = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];

/** /app as the Dockerfile's build stage leaves it: package.json, production node_modules, dist/src. */
async function operatorLayer(o: BuildImagesOptions): Promise<Layer> {
  const files = [...OPERATOR_INPUTS.map((f) => join(REPO_ROOT, f)), ...filesUnder(join(REPO_ROOT, 'src'))];
  const key = await hashInputs(files.map((f) => ({ file: f })).flatMap((f) => [relative(REPO_ROOT, f.file), f]));
  return cachedLayer(o.cacheDir, 'operator', key, async (root) => {
    const app = join(root, 'app');
    mkdirSync(app, { recursive: true });
    for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(REPO_ROOT, f), join(app, f));
    o.log('[node] operator image: npm ci --omit=dev (the production tree of package-lock.json)');
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, maxBuffer: 16 << 20 });
    o.log('[node] operator image: tsc -p tsconfig.build.json');
    await run(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(root, 'build')], {
      cwd: REPO_ROOT,
      maxBuffer: 16 << 20,
    });
    cpSync(join(root, 'build', 'src'), join(app, 'dist', 'src'), { recursive: true });
    rmSync(join(root, 'build'), { recursive: true, force: true });
    rmSync(join(app, 'package-lock.json'));
    // The Dockerfile's smoke test, with the production dependencies only.
    await run(process.execPath, ['dist/src/main.js', 'synth', '-f', join(REPO_ROOT, 'examples/basic.yaml')], { cwd: app, maxBuffer: 16 << 20 });
    await run(process.execPath, ['dist/src/main.js', 'run', '--help'], { cwd: app });
  });
}

/** What pingcap/pd's base adds to Rocky Linux that the charts and users rely on. */
async function shellLayer(o: BuildImagesOptions): Promise<Layer> {
  const bins = { bash: '/bin/bash', busybox: '/bin/busybox', getent: '/usr/bin/getent', nslookup: '/usr/bin/nslookup' };
  const libs = (await Promise.all(Object.values(bins).map(sharedLibraries))).flat();
  const key = await hashInputs([...Object.values(bins), ...libs].map((file) => ({ file })));
  return cachedLayer(o.cacheDir, 'shell', key, async (root) => {
    // Rocky Linux has a merged /usr, and /bin/sh is bash there (bash runs in POSIX mode as sh).
    await putExecutable(root, '/usr/bin/bash', bins.bash);
    link(root, '/bin', 'usr/bin');
    link(root, '/sbin', 'usr/sbin');
    link(root, '/usr/bin/sh', 'bash');
    put(root, '/usr/bin/busybox', bins.busybox);
    await putExecutable(root, '/usr/bin/getent', bins.getent);
    await putExecutable(root, '/usr/bin/nslookup', bins.nslookup);
    // Rocky's coreutils and friends, as busybox applets (the charts' scripts use builtins only).
    for (const a of BUSYBOX_APPLETS) link(root, `/usr/bin/${a}`, 'busybox');
    mkdir(root, '/usr/sbin');
  });
}

const BUSYBOX_APPLETS = ['ls', 'cat', 'cp', 'mv', 'rm', 'mkdir', 'rmdir', 'ln', 'chmod', 'touch', 'sleep', 'ps', 'grep', 'sed', 'awk', 'head', 'tail', 'wc', 'env', 'id', 'hostname', 'nc', 'netstat', 'tar', 'du', 'df', 'find', 'xargs', 'tr', 'cut', 'sort', 'uniq', 'date', 'stat', 'readlink', 'kill', 'uname', 'vi', 'less', 'wget', 'ip', 'ping', 'top', 'free'];

/** Bundles a stand-in program into one CommonJS file that runs with the image's node. */
async function bundle(entry: string, outfile: string): Promise<void> {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'error',
    // The bundle is CommonJS; code that reads import.meta.url gets its own file URL.
    define: { 'import.meta.url': '__standin_import_meta_url' },
    banner: { js: `#!${NODE_IN_IMAGE}\nconst __standin_import_meta_url = require('node:url').pathToFileURL(__filename).href;` },
  });
  chmodSync(outfile, 0o755);
}

const STANDIN_SOURCES = join(REPO_ROOT, 'test/env/node/standin');

/** The program at /pd-server or /tikv-server, and the .proto files the stand-ins load. */
async function programLayer(o: BuildImagesOptions, program: 'pd-server' | 'tikv-server'): Promise<Layer> {
  const real = program === 'pd-server' ? o.realPdServer : undefined;
  if (real) {
    const key = await hashInputs(['real', { file: real }]);
    return cachedLayer(o.cacheDir, `${program}-real`, key, async (root) => put(root, `/${program}`, real));
  }
  const staging = join(o.cacheDir, 'build', `${program}.${process.pid}.bundle.cjs`);
  mkdirSync(dirname(staging), { recursive: true });
  await bundle(join(STANDIN_SOURCES, `${program}.ts`), staging);
  const protoFiles = [...filesUnder(join(o.kvprotoDir, 'proto')), ...filesUnder(join(o.kvprotoDir, 'include'))].filter((f) => f.endsWith('.proto'));
  const key = await hashInputs([{ file: staging }, ...protoFiles.flatMap((f) => [relative(o.kvprotoDir, f), { file: f }])]);
  try {
    return await cachedLayer(o.cacheDir, `${program}-standin`, key, async (root) => {
      put(root, `/${program}`, staging);
      for (const f of protoFiles) put(root, join(IMAGE_PROTO_DIR, relative(o.kvprotoDir, f)), f);
    });
  } finally {
    rmSync(staging, { force: true });
  }
}

function standinConfig(program: string, version: string, extra: Partial<ImageRuntimeConfig>): ImageRuntimeConfig {
  return {
    Env: [PATH_ENV, `${STANDIN_VERSION_ENV}=${version}`],
    Entrypoint: [`/${program}`],
    WorkingDir: '/',
    Labels: { 'org.opencontainers.image.description': `tikv-operator test environment: ${program} ${version} (see test/env/node/images.ts)` },
    ...extra,
  };
}

const PRUNE_AFTER_MS = 24 * 3600_000;

/** Removes cached layers and archives no run has used for a day (each source change leaves a new operator layer and archive). */
function pruneCache(cacheDir: string, inUse: Set<string>): void {
  for (const sub of ['layers', 'archives', 'build']) {
    const dir = join(cacheDir, sub);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      try {
        if (!inUse.has(p) && Date.now() - statSync(p).mtimeMs > PRUNE_AFTER_MS) rmSync(p, { recursive: true, force: true });
      } catch {
        // removed by another run meanwhile
      }
    }
  }
}

/** Marks cache entries as used now (pruneCache goes by mtime). */
function touch(paths: string[]): void {
  const now = new Date();
  for (const p of paths) if (existsSync(p)) utimesSync(p, now, now);
}

/** Builds (or takes from the cache) every image the node imports. */
export async function buildNodeImages(o: BuildImagesOptions): Promise<NodeImage[]> {
  const t0 = Date.now();
  mkdirSync(o.cacheDir, { recursive: true });
  const pauseLayer = await cachedLayer(o.cacheDir, 'pause', await hashInputs([{ file: join(o.binDir, 'pause') }]), async (root) =>
    put(root, '/pause', join(o.binDir, 'pause')),
  );
  const runtime = await runtimeLayer(o);
  const shell = await shellLayer(o);
  const [operator, pd, tikv] = [await operatorLayer(o), await programLayer(o, 'pd-server'), await programLayer(o, 'tikv-server')];
  const image = await cachedArchive(o.cacheDir, [
    { layers: [pauseLayer], variants: [{ names: [PAUSE_IMAGE], config: { Entrypoint: ['/pause'] } }] },
    {
      layers: [runtime, operator],
      variants: [
        {
          names: [OPERATOR_IMAGE],
          config: {
            User: '65532:65532',
            Env: [PATH_ENV, 'NODE_ENV=production'],
            WorkingDir: '/app',
            ExposedPorts: { '8080/tcp': {} },
            Entrypoint: [NODE_IN_IMAGE, '/app/dist/src/main.js'],
            Cmd: ['run'],
          },
        },
      ],
    },
    {
      layers: [runtime, shell, pd],
      variants: STANDIN_VERSIONS.map((v) => ({ names: [pdImage(v)], config: standinConfig('pd-server', v, { ExposedPorts: { '2379/tcp': {}, '2380/tcp': {} } }) })),
    },
    {
      layers: [runtime, shell, tikv],
      variants: STANDIN_VERSIONS.map((v) => ({ names: [tikvImage(v)], config: standinConfig('tikv-server', v, { ExposedPorts: { '20160/tcp': {}, '20180/tcp': {} } }) })),
    },
  ]);
  const used = [image.archive, ...[pauseLayer, runtime, shell, operator, pd, tikv].flatMap((l) => [l.file, `${l.file}.json`])];
  touch(used);
  pruneCache(o.cacheDir, new Set(used));
  o.log(`[node] images ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${o.realPdServer ? 'real pd-server' : 'PD stand-in'} in pingcap/pd)`);
  return [image];
}
