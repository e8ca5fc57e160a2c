// A test hook on the real node: makes pods' own DNS names "missing" for a while, the way a
// kind node shows them until the peer Service's EndpointSlice has reached CoreDNS. Queries
// that carry one of the given DNS labels (a pod name, as the first label of
// <pod>.<peer-svc>.<ns>.svc and of every search-path expansion of it) are refused on their
// way to CoreDNS, in the node's own netfilter (CoreDNS listens on the node's address, pods
// reach it through the kube-dns Service, so the query arrives on the node's INPUT chain
// after kube-proxy's DNAT). REJECT, not DROP: the resolver gets "connection refused" at
// once, like an answer that does not have the name yet, instead of waiting for timeouts.
// Other names keep resolving.
import type { RealNode } from './node.js';

const IPTABLES = '/usr/sbin/iptables';

/** `|0a|basic-pd-1`: the label as it appears in a DNS question (its length, then its bytes). */
export function dnsLabelHex(label: string): string {
  if (!/^[a-z0-9-]{1,63}$/.test(label)) throw new Error(`not a DNS label: ${label}`);
  return `|${label.length.toString(16).padStart(2, '0')}|${label}`;
}

function rules(labels: string[]): string[][] {
  return labels.flatMap((l) =>
    (['udp', 'tcp'] as const).map((proto) => [
      'INPUT',
      '-p',
      proto,
      '--dport',
      '53',
      '-m',
      'string',
      '--algo',
      'bm',
      '--hex-string',
      dnsLabelHex(l),
      '-m',
      'comment',
      '--comment',
      'tikv-operator test hook: DNS name missing',
      '-j',
      'REJECT',
      ...(proto === 'tcp' ? ['--reject-with', 'tcp-reset'] : []),
    ]),
  );
}

export interface DNSHook {
  /** The names resolve again. Idempotent. */
  release(): Promise<void>;
}

/** From now until release(), DNS questions for names with one of these labels are refused. */
export async function hideDNSLabels(node: RealNode, labels: string[]): Promise<DNSHook> {
  const rs = rules(labels);
  for (const r of rs) await node.run(IPTABLES, ['-w', '-I', r[0]!, '1', ...r.slice(1)]);
  let released: Promise<void> | undefined;
  return {
    release: () => {
      released ??= (async () => {
        for (const r of rs) await node.run(IPTABLES, ['-w', '-D', ...r]);
      })();
      return released;
    },
  };
}
