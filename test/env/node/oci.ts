// OCI images without a registry or an image builder: each layer is a directory packed by
// GNU tar (deterministic: sorted names, owner root, mtime 0, uncompressed), the config and
// manifest are written as the image-spec says, and the result is an OCI image layout in a
// tar archive that `ctr images import` reads, named by the `io.containerd.image.name`
// annotation of each index entry (one entry per name: an image can carry several).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** The runtime part of an image config (image-spec config.md, "config" object). */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
}

export interface Blob {
  digest: string;
  size: number;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Packs `rootDir` into an uncompressed, reproducible layer tar at `outFile`. */
export async function tarLayer(rootDir: string, outFile: string): Promise<Blob> {
  const tmp = `${outFile}.${process.pid}.tmp`;
  await run('tar', [
    '--create',
    '--file',
    tmp,
    '--format=gnu',
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '--directory',
    rootDir,
    '.',
  ]);
  renameSync(tmp, outFile);
  return { digest: `sha256:${await sha256File(outFile)}`, size: statSync(outFile).size };
}

export interface ImageVariant {
  /** Full names, e.g. `docker.io/pingcap/pd:v8.5.5`. */
  names: string[];
  config: ImageRuntimeConfig;
}

export interface ImageSpec {
  /** Layer tars from tarLayer, bottom first, shared by every variant. */
  layers: { file: string; blob: Blob }[];
  /** One manifest per variant (same layers, own config), each under its own names. */
  variants: ImageVariant[];
}

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

/** Writes the images as one OCI layout tar (`outFile`) for `ctr images import`; a layer shared by several images is stored once. */
export async function writeImageArchive(images: ImageSpec[], outFile: string, architecture = GOARCH[process.arch] ?? process.arch): Promise<void> {
  // Per-process names: two runs on one machine may build the same cached archive at once.
  const dir = `${outFile}.${process.pid}.layout`;
  rmSync(dir, { recursive: true, force: true });
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const putJSON = (value: unknown): Blob => {
    const bytes = Buffer.from(JSON.stringify(value));
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  for (const l of images.flatMap((i) => i.layers)) {
    const target = join(blobs, l.blob.digest.slice('sha256:'.length));
    if (!existsSync(target)) await run('cp', ['--reflink=auto', l.file, target]);
  }
  const entries = images.flatMap((spec) => spec.variants.flatMap((v) => {
    const config = putJSON({
      architecture,
      os: 'linux',
      config: v.config,
      // Uncompressed layers: the diff id is the layer digest.
      rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.blob.digest) },
      history: spec.layers.map(() => ({ created_by: 'tikv-operator test/env/node/images.ts' })),
    });
    const manifest = putJSON({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, ...config },
      layers: spec.layers.map((l) => ({ mediaType: MEDIA.layer, ...l.blob })),
    });
    return v.names.map((name) => ({
      mediaType: MEDIA.manifest,
      ...manifest,
      platform: { architecture, os: 'linux' },
      annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.slice(name.lastIndexOf(':') + 1) },
    }));
  }));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: entries }));
  const tmp = `${outFile}.${process.pid}.tmp`;
  await run('tar', ['--create', '--file', tmp, '--format=gnu', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--directory', dir, '.']);
  renameSync(tmp, outFile);
  rmSync(dir, { recursive: true, force: true });
}
