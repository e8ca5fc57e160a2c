// The real node's pure parts: its configuration files, address checks, the stand-ins'
// command-line and size parsing, the hub protocol's encoding, and the OCI layout writer.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ADDR, CGROUP_ROOT, cniConfig, containerdConfig, corefile, kubeletConfig, kubeProxyConfig, NODE_NET } from '../../env/node/config.js';
import { cidrsOverlap, hostProblem, NodeUnavailableError } from '../../env/node/host.js';
import { parseLdd } from '../../env/node/images.js';
import { MEDIA, tarLayer, writeImageArchive } from '../../env/node/oci.js';
import { parseInitialCluster } from '../../env/node/standin/hub.js';
import { clusterKeyOf, FlagError, listenAddresses, parseFlags, parseGoDuration, parseReadableSize, pingcapLogLine } from '../../env/node/standin/cli.js';
import { decode, encode } from '../../env/node/standin/protocol.js';

describe('node configuration', () => {
  it('keeps every address in the node range and away from kwok (10.244/16) and the kwok control planes (10.96/16)', () => {
    for (const a of [ADDR.host, ADDR.node, ADDR.podCIDR, ADDR.serviceCIDR, ADDR.dnsService, ADDR.kubernetesService]) {
      expect(cidrsOverlap(a, NODE_NET), a).toBe(true);
      expect(cidrsOverlap(a, '10.244.0.0/16'), a).toBe(false);
      expect(cidrsOverlap(a, '10.96.0.0/16'), a).toBe(false);
    }
    expect(cidrsOverlap(ADDR.podCIDR, ADDR.serviceCIDR)).toBe(false);
    expect(cidrsOverlap(`${ADDR.host}/${ADDR.linkPrefix}`, ADDR.podCIDR)).toBe(false);
  });

  it('cidrsOverlap compares networks, not strings', () => {
    expect(cidrsOverlap('10.231.5.7/32', '10.231.0.0/16')).toBe(true);
    expect(cidrsOverlap('10.0.0.0/8', '10.231.2.0/24')).toBe(true);
    expect(cidrsOverlap('10.232.0.0/16', '10.231.0.0/16')).toBe(false);
    expect(cidrsOverlap('0.0.0.0/0', '192.168.1.0/24')).toBe(true);
    expect(cidrsOverlap('fe80::1/64', '10.0.0.0/8')).toBe(false);
  });

  it('gives the pods one bridge with a gateway in the pod range and no masquerade', () => {
    const c = JSON.parse(cniConfig()) as { plugins: { type: string; ipMasq?: boolean; ipam?: { ranges: { subnet: string; gateway: string }[][] } }[] };
    const bridge = c.plugins.find((p) => p.type === 'bridge');
    expect(bridge?.ipMasq).toBe(false);
    expect(bridge?.ipam?.ranges).toEqual([[{ subnet: ADDR.podCIDR, gateway: ADDR.podGateway }]]);
    expect(cidrsOverlap(ADDR.podGateway, ADDR.podCIDR)).toBe(true);
  });

  it('configures the kubelet for cgroup v1 under its own cgroup root, with the sync frequency asked for', () => {
    const k = kubeletConfig({ syncFrequency: '5s' });
    expect(k).toContain('failCgroupV1: false');
    expect(k).toContain(`cgroupRoot: ${CGROUP_ROOT}`);
    expect(k).toContain(`clusterDNS: [${ADDR.dnsService}]`);
    expect(k).toContain('syncFrequency: 5s');
    expect(kubeletConfig()).not.toContain('syncFrequency');
  });

  it('leaves conntrack and route_localnet to the kernel in kube-proxy, and sends no DNS query upstream', () => {
    expect(kubeProxyConfig()).toContain('conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}');
    expect(kubeProxyConfig()).toContain('localhostNodePorts: false');
    const cf = corefile('/k');
    expect(cf).toContain('kubernetes cluster.local');
    expect(cf).not.toMatch(/\bforward\b/);
    expect(containerdConfig()).toContain('restrict_oom_score_adj = true');
  });
});

describe('where the node cannot run', () => {
  const root = { platform: 'linux', uid: 0, capEff: '000001fffeffffff', missingCommands: [], cgroupMounts: 10 };

  it('names the first reason: not Linux, not root, missing capabilities, packages or cgroups', () => {
    expect(hostProblem(root)).toBeUndefined();
    expect(hostProblem({ ...root, platform: 'darwin' })).toBe('this is darwin, not Linux');
    expect(hostProblem({ ...root, uid: 1000 })).toBe('this process runs as uid 1000, not root');
    // Docker's default capability set: no CAP_SYS_ADMIN, no CAP_NET_ADMIN.
    expect(hostProblem({ ...root, capEff: '00000000a80425fb' })).toBe('root without CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_SYS_ADMIN (an unprivileged container?)');
    expect(hostProblem({ ...root, missingCommands: ['/usr/bin/containerd'] })).toContain('missing /usr/bin/containerd (install them with `sudo bash testenv/node-packages.sh`)');
    expect(hostProblem({ ...root, cgroupMounts: 0 })).toBe('no cgroup filesystem is mounted');
  });

  it('says why, how CI runs it, and that it is never skipped', () => {
    const e = new NodeUnavailableError('this process runs as uid 1000, not root');
    expect(e.message).toContain('cannot run on this machine: this process runs as uid 1000, not root');
    expect(e.message).toContain('never skipped');
  });
});

describe('stand-in command lines', () => {
  const specs = [{ name: 'name' }, { name: 'data-dir', short: 's', aliases: ['store'] }, { name: 'version', short: 'V', bool: true }];
  const unknown = (a: string) => `unknown flag: ${a}`;

  it('takes --flag=value, --flag value, short and alias forms, and booleans', () => {
    expect(parseFlags(['--name=a', '--data-dir', '/d', '-V'], specs, unknown)).toEqual({ name: 'a', 'data-dir': '/d', version: true });
    expect(parseFlags(['-s=/x'], specs, unknown)).toEqual({ 'data-dir': '/x' });
    expect(parseFlags(['--store', '/y'], specs, unknown)).toEqual({ 'data-dir': '/y' });
    expect(parseFlags(['--version=false'], specs, unknown)).toEqual({ version: false });
  });

  it('refuses unknown flags, stray arguments and a missing value', () => {
    expect(() => parseFlags(['--bogus=1'], specs, unknown)).toThrow(new FlagError('unknown flag: --bogus'));
    expect(() => parseFlags(['extra'], specs, unknown)).toThrow('unknown flag: extra');
    expect(() => parseFlags(['--name'], specs, unknown)).toThrow('flag needs an argument: --name');
  });

  it('reads listen addresses with and without a scheme', () => {
    expect(listenAddresses('http://0.0.0.0:2379,http://127.0.0.1:2381')).toEqual([
      { host: '0.0.0.0', port: 2379 },
      { host: '127.0.0.1', port: 2381 },
    ]);
    expect(listenAddresses('0.0.0.0:20160')).toEqual([{ host: '0.0.0.0', port: 20160 }]);
    expect(() => listenAddresses('http://host')).toThrow(/no port/);
  });

  it("parses TiKV's sizes and Go's durations", () => {
    expect(parseReadableSize('5120MiB')).toBe(5120 * 1024 ** 2);
    expect(parseReadableSize('5GB')).toBe(5 * 1024 ** 3);
    expect(parseReadableSize('512')).toBe(512);
    expect(() => parseReadableSize('lots')).toThrow(/invalid size/);
    expect(parseGoDuration('30m')).toBe(30 * 60_000);
    expect(parseGoDuration('1h30m10s')).toBe(5_410_000);
    expect(() => parseGoDuration('3 days')).toThrow(/invalid duration/);
  });

  it('names a PD cluster by the peer Service of its members, and reads --initial-cluster', () => {
    expect(clusterKeyOf('http://basic-pd-0.basic-pd-peer.ns.svc:2380')).toBe('basic-pd-peer.ns.svc');
    expect(parseInitialCluster('a=http://a:2380, b=http://b:2380')).toEqual([
      ['a', 'http://a:2380'],
      ['b', 'http://b:2380'],
    ]);
  });

  it('logs in pingcap/log format', () => {
    expect(pingcapLogLine('FATAL', 'main.go:1', 'join meet error', { error: 'missing data or join a duplicated pd' })).toMatch(
      /^\[\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d{3} \+00:00\] \[FATAL\] \[main\.go:1\] \["join meet error"\] \[error="missing data or join a duplicated pd"\]$/,
    );
  });
});

describe('hub protocol', () => {
  it('carries region keys as Buffers', () => {
    const msg = { type: 'tikv-commit', entries: [{ region: { id: '2', start_key: Buffer.from([0, 255]), end_key: Buffer.alloc(0) } }] };
    const line = encode(msg);
    expect(line.endsWith('\n')).toBe(true);
    const back = decode<typeof msg>(line.trim());
    expect(Buffer.isBuffer(back.entries[0]?.region.start_key)).toBe(true);
    expect(back).toEqual(msg);
  });
});

describe('images', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oci-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the libraries in ldd output, not the vdso', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f55)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f56)',
    ].join('\n');
    expect(parseLdd(out)).toEqual(['/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
  });

  it('writes an OCI layout whose digests check out, one index entry per name, shared layers once', async () => {
    const root = join(dir, 'root');
    mkdirSync(join(root, 'bin'), { recursive: true });
    writeFileSync(join(root, 'bin', 'hello'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    const layer = { file: join(dir, 'layer.tar'), blob: await tarLayer(root, join(dir, 'layer.tar')) };
    const again = await tarLayer(root, join(dir, 'layer2.tar'));
    expect(again.digest, 'reproducible').toBe(layer.blob.digest);
    const archive = join(dir, 'images.tar');
    await writeImageArchive(
      [
        { layers: [layer], variants: [{ names: ['docker.io/x/a:1', 'docker.io/x/a:latest'], config: { Entrypoint: ['/bin/hello'] } }] },
        { layers: [layer], variants: [{ names: ['docker.io/x/b:1'], config: { Env: ['V=1'] } }] },
      ],
      archive,
    );
    const out = join(dir, 'out');
    mkdirSync(out);
    execFileSync('tar', ['-xf', archive, '-C', out]);
    const blob = (d: string) => readFileSync(join(out, 'blobs', 'sha256', d.replace('sha256:', '')));
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.annotations['io.containerd.image.name'])).toEqual(['docker.io/x/a:1', 'docker.io/x/a:latest', 'docker.io/x/b:1']);
    for (const m of index.manifests) {
      const manifest = JSON.parse(blob(m.digest).toString()) as { mediaType: string; config: { digest: string }; layers: { digest: string; mediaType: string }[] };
      expect(sha(blob(m.digest))).toBe(m.digest);
      expect(manifest.mediaType).toBe(MEDIA.manifest);
      expect(manifest.layers).toEqual([expect.objectContaining({ digest: layer.blob.digest, mediaType: MEDIA.layer })]);
      const config = JSON.parse(blob(manifest.config.digest).toString()) as { rootfs: { diff_ids: string[] } };
      expect(config.rootfs.diff_ids).toEqual([layer.blob.digest]);
    }
    expect(sha(blob(layer.blob.digest))).toBe(layer.blob.digest);
    expect(execFileSync('tar', ['-tf', join(out, 'blobs', 'sha256', layer.blob.digest.replace('sha256:', ''))], { encoding: 'utf8' })).toContain('./bin/hello');
  });
});
