// The Quantity port (src/api/quantity.ts) against the real kube-apiserver: for generated
// quantity strings, a Pod dry-run shows whether the apiserver parses the value and the
// string it stores (SetDefaults_ResourceList rounds to milli), which must be what
// resourceListCanonical predicts; that string is what the operator compares against, so a
// mismatch would patch the StatefulSet on every reconcile (issue 8, hole 5).
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { isQuantity, parseQuantity, resourceListCanonical, sign } from '../../src/api/quantity.js';
import { kubeRequest } from '../../src/controller/kube/raw.js';
import { getEnv, newNamespace } from '../env/context.js';

type Outcome = { stored: string } | { unparsable: string } | { negative: string };

async function podRequest(ns: string, cpu: string): Promise<Outcome> {
  const body = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'quantity', namespace: ns },
    spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu } } }] },
  };
  const res = await kubeRequest(getEnv().kc, { method: 'POST', path: `/api/v1/namespaces/${ns}/pods?dryRun=All`, body });
  const parsed = JSON.parse(res.body);
  if (res.status === 201) return { stored: parsed.spec.containers[0].resources.requests.cpu };
  if (res.status === 400 && /quantit/.test(parsed.message)) return { unparsable: parsed.message };
  if (res.status === 422 && /must be greater than or equal to 0/.test(parsed.message)) return { negative: parsed.message };
  throw new Error(`unexpected answer ${res.status} for ${JSON.stringify(cpu)}: ${res.body}`);
}

/** What the port predicts for the same string. */
function predicted(s: string): 'stored' | 'unparsable' | 'negative' {
  const t = s.trim();
  if (!isQuantity(t)) return 'unparsable';
  return sign(parseQuantity(t)) < 0 ? 'negative' : 'stored';
}

// Quantity-shaped strings, often valid, often odd: signs, leading zeros, empty parts,
// long mantissas, every suffix, exponents (at most three digits: apimachinery loops on
// exponents near 2^31, see quantity.ts), surrounding spaces, and a little junk.
const quantityLike = fc
  .tuple(
    fc.constantFrom('', '', '+', '-', ' '),
    fc.oneof(fc.stringMatching(/^[0-9]{0,4}$/), fc.stringMatching(/^[0-9]{15,24}$/), fc.constantFrom('0', '00', '1024', '1000')),
    fc.option(fc.stringMatching(/^[0-9]{0,11}$/)),
    fc.oneof(
      fc.constantFrom('', 'n', 'u', 'm', 'k', 'M', 'G', 'T', 'P', 'E', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'K', 'i', 'mi', 'e', 'E+'),
      fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 999 })).map(([e, s, n]) => `${e}${s}${n}`),
    ),
    fc.constantFrom('', '', '', ' ', 'x'),
  )
  .map(([sign_, int, frac, suffix, tail]) => `${sign_}${int}${frac === null ? '' : `.${frac}`}${suffix}${tail}`)
  .filter((s) => s.trim().length > 0);

describe('Quantity port against kube-apiserver', () => {
  let ns: string;
  beforeAll(async () => {
    ns = await newNamespace('quantity');
  });

  it('parses, refuses and rewrites generated quantities exactly as the apiserver does', async () => {
    let stored = 0;
    await fc.assert(
      fc.asyncProperty(quantityLike, async (s) => {
        const outcome = await podRequest(ns, s);
        expect(Object.keys(outcome)[0], JSON.stringify(s)).toBe(predicted(s));
        if ('stored' in outcome) {
          stored++;
          expect(resourceListCanonical(s), JSON.stringify(s)).toBe(outcome.stored);
        }
      }),
      { numRuns: 250 },
    );
    // The property is about stored values, not only refusals.
    expect(stored).toBeGreaterThan(50);
  });

  it('stores the strings of issue 8 hole 5 as predicted', async () => {
    for (const s of ['100000000000000000000Ei', '0.0000000001', '1000E', '1.5Gi', '+1Gi', '1500u']) {
      const outcome = await podRequest(ns, s);
      expect(outcome, s).toEqual({ stored: resourceListCanonical(s) });
    }
  });
});
