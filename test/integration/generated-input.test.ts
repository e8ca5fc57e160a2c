// Generated TikvClusters, valid and hostile, through the real kube-apiserver and the
// operator (issue 8, "Done means"). For every generated object:
//   - admission refuses it (dry-run) with causes that name their field, and then the
//     operator's own validation refuses it too; or
//   - admission accepts it, the operator's validation accepts what was stored, and the
//     StatefulSets the operator would apply for it are accepted by the apiserver too
//     (server-side dry-run apply) and come back holding every field as sent, so the
//     operator's "already applied" check holds and it writes nothing more (no write loop).
// Then two clusters with accepted-but-odd values (quantities the apiserver rewrites,
// integers beyond 2^53, a __proto__ key) are run by the operator to Ready, and the
// apiserver's audit log shows zero writes per reconcile at rest.
import fc from 'fast-check';
import { stringify } from 'lossless-json';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateTikvCluster } from '../../src/api/validate.js';
import { GROUP, PLURAL, VERSION } from '../../src/api/v1alpha1.js';
import { type KubeObject, synthesize } from '../../src/charts/index.js';
import { contains, FIELD_MANAGER, stampHashes } from '../../src/controller/kube/apply.js';
import { kubeRequest } from '../../src/controller/kube/raw.js';
import { resourcePath } from '../../src/controller/kube/resources.js';
import { parseExactJSON } from '../../src/controller/runtime/exact-json.js';
import { getEnv, newNamespace } from '../env/context.js';
import { waitFor } from '../env/process.js';
import {
  auditWrites,
  condition,
  getCluster,
  installOperatorPrerequisites,
  startTestOperator,
  type TestOperator,
  TestPDResolver,
  TiKVStandins,
  waitForCluster,
} from './support/operator.js';

type Json = Record<string, unknown>;
interface Cause {
  field?: string;
  message?: string;
}

/**
 * Causes the apiserver adds without a field of their own: the anyOf of an int-or-string
 * given a fraction, and the note that CEL rules were skipped after a "blocking" error. Each
 * comes with a cause that does name the field.
 */
const APISERVER_GENERIC = /must validate at least one schema \(anyOf\)|must be of type integer|some validation rules were not checked/;

// --- generators -----------------------------------------------------------------------

/**
 * The generators, built twice: with `odd` false they draw only what the apiserver should
 * accept, combined the way core/v1 wants (requests below limits, values that fit their
 * operator); with `odd` true about one value in five is one it must refuse, and the
 * combinations are free.
 */
function generators(odd: boolean) {
  const pick = <T>(valid: T[], bad: T[]): fc.Arbitrary<T> =>
    odd ? fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 4 }, { arbitrary: fc.constantFrom(...bad), weight: 1 }) : fc.constantFrom(...valid);
  const either = (valid: fc.Arbitrary<unknown>, free: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => (odd ? free : valid);

  // Spellings the apiserver accepts and often rewrites in the StatefulSet ("1.5Gi" -> "1536Mi",
  // "100u" -> "1m"), and ones it must refuse. Requests come from the small, limits from the large.
  const badCPU = ['abc', '1GB', '1 Gi', '0', '-1', '100k', '', ' 1', 'Ki', '.', 0.5, -1, '1e2147483648', '1e4'];
  const badMemory = ['512m', '2Pi', '1e308', '0', '-1Gi', '1GB', 'abc', '1Ki', '1 Gi'];
  const cpuRequest = pick<string | number>(['100m', '0.0001', '100u', '0.5', '+0.25', '01'], badCPU);
  const cpuLimit = pick<string | number>(['1', 2, '1500m', '2000m', '10k', '1e3', '+1'], badCPU);
  const memoryRequest = pick<string | number>(['256Mi', '1048576', '1024Ki', '0.25Gi', '1e8'], badMemory);
  const memoryLimit = pick<string | number>(['1Gi', '1.5Gi', '+1Gi', '01Gi', '1.Gi', 1 << 30, '1e9', '2G', '1Pi'], badMemory);
  const resources = fc.record(
    {
      requests: fc.record({ cpu: cpuRequest, memory: memoryRequest }, { requiredKeys: [] }),
      limits: fc.record({ cpu: cpuLimit, memory: memoryLimit }, { requiredKeys: [] }),
    },
    { requiredKeys: [] },
  );
  const storageSize = pick(['1Gi', '1.5Gi', '+10Gi', '1e9', '1048576', '5Gi', '1Mi', '1Ei', '1.5Ti'], ['0', '0Gi', '-0', '-1Gi', '1Ki', '2Ei', 'abc', '']);
  const labelKey = pick(['dedicated', 'example.com/tikv', 'kubernetes.io/hostname', 'a.b/c-d_e'], ['', 'bad key', 'a/b/c', 'k'.repeat(64), '-x', 'Upper/x']);
  const labelValue = pick(['', 'tikv', 'v1.2', 'A_b-c'], ['not valid', '-x', 'v'.repeat(64), 'a/b']);
  const effect = fc.constantFrom('NoSchedule', 'PreferNoSchedule', 'NoExecute');

  const toleration = either(
    fc.oneof(
      fc.record({ key: labelKey, operator: fc.constant('Exists'), effect }, { requiredKeys: ['operator'] }),
      fc.record({ key: labelKey.filter((k) => k !== ''), operator: fc.constant('Equal'), value: labelValue, effect }, { requiredKeys: ['key'] }),
      fc.record({ key: labelKey.filter((k) => k !== ''), effect: fc.constant('NoExecute'), tolerationSeconds: fc.integer({ min: 0, max: 3600 }) }),
    ),
    fc.record(
      { key: labelKey, operator: fc.constantFrom('Exists', 'Equal'), value: labelValue, effect, tolerationSeconds: fc.integer({ min: 0, max: 3600 }) },
      { requiredKeys: [] },
    ),
  );

  const values = fc.array(labelValue, { minLength: 1, maxLength: 3 });
  const nodeRequirement = either(
    fc.oneof(
      fc.record({ key: labelKey, operator: fc.constantFrom('In', 'NotIn'), values }),
      fc.record({ key: labelKey, operator: fc.constantFrom('Exists', 'DoesNotExist') }),
      fc.record({ key: labelKey, operator: fc.constantFrom('Gt', 'Lt'), values: fc.constantFrom(['5'], ['-3']) }),
    ),
    fc.record(
      { key: labelKey, operator: fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt', 'Near'), values: fc.array(fc.oneof(labelValue, fc.constantFrom('5', 'five')), { maxLength: 3 }) },
      { requiredKeys: ['key', 'operator'] },
    ),
  );
  const weight = pick([1, 50, 100], [0, -1, 101]);
  const podTerm = fc.record(
    {
      topologyKey: labelKey.filter((k) => k !== '' || odd),
      labelSelector: fc.record(
        {
          matchLabels: fc.dictionary(labelKey.filter((k) => k !== '' || odd), labelValue, { maxKeys: 2 }),
          matchExpressions: fc.array(
            either(fc.record({ key: labelKey.filter((k) => k !== ''), operator: fc.constantFrom('In', 'NotIn'), values }), fc.record({ key: labelKey, operator: fc.constantFrom('In', 'Exists', 'Near'), values })),
            { maxLength: 2 },
          ),
        },
        { requiredKeys: [] },
      ),
      namespaces: fc.array(pick(['default', 'tikv-1'], ['Not_A_Namespace', '-x']), { maxLength: 2 }),
    },
    { requiredKeys: odd ? ['topologyKey'] : ['topologyKey', 'labelSelector'] },
  );
  const affinity = fc.oneof(
    fc.array(nodeRequirement, { minLength: 1, maxLength: 2 }).map((matchExpressions) => ({
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions }] } },
    })),
    fc.tuple(weight, fc.array(nodeRequirement, { maxLength: 2 })).map(([w, matchExpressions]) => ({
      nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: w, preference: { matchExpressions } }] },
    })),
    fc.tuple(weight, podTerm).map(([w, t]) => ({ podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: w, podAffinityTerm: t }] } })),
    podTerm.map((t) => ({ podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [t] } })),
    ...(odd ? [fc.constant({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } })] : []),
  );

  const tomlKey = fc.constantFrom('log', 'level', 'raftstore', 'capacity', '__proto__', 'a.b', 'x y', 'readpool');
  const tomlScalar = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(9007199254740993n, -(2n ** 63n), 2n ** 63n - 1n),
  );
  // Tables up to 7 (valid) or 10 (odd) levels deep; arrays of scalars or of tables of
  // scalars (valid), of anything (odd).
  const scalarTable = fc.dictionary(tomlKey, tomlScalar, { maxKeys: 2 });
  const configTree = fc.letrec((tie) => ({
    value: fc.oneof(
      { maxDepth: odd ? 10 : 7, depthIdentifier: 'config' },
      { arbitrary: tomlScalar, weight: 3 },
      { arbitrary: tie('table'), weight: 2 },
      { arbitrary: fc.array(odd ? fc.oneof(tomlScalar, tie('table')) : fc.oneof(tomlScalar, scalarTable), { maxLength: 2 }), weight: 1 },
    ),
    table: fc.dictionary(tomlKey, tie('value'), { maxKeys: 2 }),
  })).table as fc.Arbitrary<Json>;

  const component = fc.record(
    {
      replicas: pick([1, 3, 5], [0, 100]),
      image: pick(['pingcap/tikv', 'registry.local:5000/pingcap/tikv', 'pingcap/tikv:v8.5.5'], [' pingcap/tikv', 'ping cap', '']),
      resources,
      storage: fc.record({ size: storageSize, storageClassName: pick(['standard', 'fast-ssd', 'a.b'], ['Fast_SSD', '-x', '']) }, { requiredKeys: [] }),
      config: configTree,
      nodeSelector: fc.dictionary(labelKey.filter((k) => k !== '' || odd), labelValue, { maxKeys: 2 }),
      tolerations: fc.array(toleration, { maxLength: 2 }),
      affinity,
    },
    { requiredKeys: [] },
  );
  const spec = fc.record(
    {
      version: pick(['v8.5.5', 'nightly', 'v8.5.5-rc.1'], ['.bad', 'has space']),
      paused: fc.boolean(),
      pd: component,
      tikv: component,
    },
    { requiredKeys: [] },
  );
  const clusterName = pick(['gen', 'gen-2', 'a'], ['Gen', 'a'.repeat(48), '1gen', 'gen-']);
  return { clusterName, spec };
}

const valid = generators(false);
const odd = generators(true);
const clusterName = fc.oneof(valid.clusterName, odd.clusterName);
const spec = fc.oneof(valid.spec, odd.spec);

// --- the apiserver ------------------------------------------------------------------------

const clusters = (ns: string) => `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`;

type Verdict = { accepted: true; stored: Json } | { accepted: false; causes: Cause[]; message: string };

/** Dry-run create, the body written with exact integers (lossless-json writes bigints as numbers). */
async function admit(ns: string, name: string, s: Json): Promise<Verdict> {
  const body = stringify({ apiVersion: `${GROUP}/${VERSION}`, kind: 'TikvCluster', metadata: { name, namespace: ns }, spec: s }) as string;
  const res = await kubeRequest(getEnv().kc, { method: 'POST', path: `${clusters(ns)}?dryRun=All`, body });
  if (res.status === 201) return { accepted: true, stored: parseExactJSON(res.body) as Json };
  const status = JSON.parse(res.body) as { message: string; details?: { causes?: Cause[] } };
  if (res.status !== 422) throw new Error(`dry-run create answered ${res.status}: ${status.message}`);
  return { accepted: false, causes: status.details?.causes ?? [], message: status.message };
}

/** Server-side dry-run apply as the operator applies (strict field validation): the object as it would be stored. */
async function dryRunApply(obj: KubeObject): Promise<{ status: number; body: string }> {
  const path = resourcePath(obj.kind, obj.metadata.namespace as string, obj.metadata.name);
  return kubeRequest(getEnv().kc, {
    method: 'PATCH',
    path: `${path}?fieldManager=${FIELD_MANAGER}&force=true&fieldValidation=Strict&dryRun=All`,
    body: obj,
    contentType: 'application/apply-patch+yaml',
  });
}

describe('generated TikvClusters through admission and the operator', () => {
  let ns: string;
  beforeAll(async () => {
    await installOperatorPrerequisites();
    ns = await newNamespace('generated');
  });

  it('admission and the operator agree, and what both accept the apiserver stores exactly as the operator applies it', async () => {
    const outcomes = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(clusterName, spec, async (name, s) => {
        const sent = { apiVersion: `${GROUP}/${VERSION}`, kind: 'TikvCluster', metadata: { name, namespace: ns }, spec: s };
        const verdict = await admit(ns, name, s);
        if (!verdict.accepted) {
          outcomes.refused++;
          const causes = verdict.causes.filter((c) => !(c.field === '<nil>' && APISERVER_GENERIC.test(c.message ?? '')));
          expect(causes.length, verdict.message).toBeGreaterThan(0);
          for (const c of causes) {
            expect(c.field, verdict.message).toMatch(/^(metadata|spec)[.[]/);
            expect(c.message, verdict.message).not.toMatch(/should match '/);
          }
          const ours = validateTikvCluster(sent);
          expect(ours.ok, `the operator accepts what admission refused: ${verdict.message}`).toBe(false);
          return;
        }
        outcomes.accepted++;
        // The operator validates what the apiserver stored (defaults filled in, unknown fields pruned).
        const valid = validateTikvCluster({ ...verdict.stored, metadata: { ...(verdict.stored.metadata as Json), namespace: ns } });
        if (!valid.ok) throw new Error(`admission accepted what the operator refuses: ${JSON.stringify(valid.issues)}`);
        for (const obj of synthesize(valid.value, { pdBootstrapped: true }).filter((o) => o.kind === 'StatefulSet')) {
          const applied = stampHashes(obj);
          const res = await dryRunApply(applied);
          expect([200, 201], `${obj.metadata.name}: ${res.body.slice(0, 800)}`).toContain(res.status);
          // What the Applier checks before writing: the live object holds every field it would send.
          const { apiVersion: _a, kind: _k, ...fields } = applied;
          expect(contains(JSON.parse(res.body), fields), `${obj.metadata.name} would be re-applied at every reconcile`).toBe(true);
        }
      }),
      { numRuns: Number(process.env.GENERATED_RUNS ?? 150) },
    );
    console.log(`generated TikvClusters: ${outcomes.accepted} accepted, ${outcomes.refused} refused at admission`);
    // Neither side of the property is empty.
    expect(outcomes.accepted).toBeGreaterThan(10);
    expect(outcomes.refused).toBeGreaterThan(10);
  });
});

describe('accepted-but-odd values run by the operator', () => {
  const pd = new TestPDResolver(getEnv().pdURLs);
  const logLines: string[] = [];
  let op: TestOperator;
  const standins: TiKVStandins[] = [];

  beforeAll(async () => {
    const log = pino({ level: 'warn' }, { write: (line: string) => logLines.push(line) });
    op = await startTestOperator({ pd, log });
  });
  afterAll(async () => {
    await op?.stop();
    await Promise.all(standins.map((s) => s.stop()));
  });

  // Quantities the apiserver rewrites in the StatefulSet (1.5Gi -> 1536Mi, 0.0001 -> 1m,
  // +2Gi, 01Gi, 1.Gi, 1e9), config integers beyond 2^53 and a __proto__ key.
  const odd = {
    pd: {
      resources: { requests: { cpu: '100u', memory: '0.25Gi' }, limits: { cpu: '1.5', memory: '+1Gi' } },
      storage: { size: '1.5Gi' },
      config: { schedule: { 'max-merge-region-keys': 9007199254740993n } },
    },
    tikv: {
      resources: { requests: { cpu: '0.0001', memory: '01Gi' }, limits: { cpu: '2000m', memory: '1.Gi' } },
      storage: { size: '1e9' },
      // A computed key: `__proto__: {...}` in a literal would set the prototype instead.
      config: { raftstore: { 'region-split-keys': 9007199254740993n }, ['__proto__']: { x: 1 } },
    },
  };

  it('reconciles them to Ready with the exact config, and makes zero API writes per reconcile at rest', async () => {
    const ns = await newNamespace('odd');
    const name = 'odd';
    const body = stringify({ apiVersion: `${GROUP}/${VERSION}`, kind: 'TikvCluster', metadata: { name, namespace: ns }, spec: odd }) as string;
    const created = await kubeRequest(getEnv().kc, { method: 'POST', path: clusters(ns), body });
    expect(created.status, created.body).toBe(201);
    const s = new TiKVStandins(ns, name).start();
    standins.push(s);
    const ready = await waitForCluster(ns, name, 'Ready=True', (c) => condition(c, 'Ready')?.status === 'True', 180_000);
    expect(ready.status?.observedGeneration).toBe(ready.metadata.generation);

    const cm = await kubeRequest(getEnv().kc, { method: 'GET', path: resourcePath('ConfigMap', ns, `${name}-tikv`) });
    const toml = (JSON.parse(cm.body) as { data: Record<string, string> }).data['tikv.toml'] ?? '';
    expect(toml).toContain('region-split-keys = 9007199254740993\n');
    expect(toml).toContain('[__proto__]\nx = 1\n');
    const sts = JSON.parse((await kubeRequest(getEnv().kc, { method: 'GET', path: resourcePath('StatefulSet', ns, `${name}-tikv`) })).body);
    expect(sts.spec.template.spec.containers[0].resources.requests.cpu).toBe('1m');

    // At rest: the TikvCluster (its status) has stopped changing for 4 reconciles, as the
    // stores' last states settle. An operator that kept writing would never get here.
    let rv: string | undefined;
    let unchangedSince = 0;
    await waitFor(
      'the TikvCluster to stop changing',
      async () => {
        const c = (await getCluster(ns, name)) as { metadata: { resourceVersion?: string } };
        if (c.metadata.resourceVersion !== rv) {
          rv = c.metadata.resourceVersion;
          unchangedSince = op.reconciles();
          return false;
        }
        return op.reconciles() >= unchangedSince + 4;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    const since = new Date();
    const start = op.reconciles();
    await waitFor('8 reconciles at rest', async () => op.reconciles() >= start + 8, { timeoutMs: 90_000, intervalMs: 100 });
    const writes = auditWrites(op.username, since).filter((e) => e.objectRef?.namespace === ns);
    console.log(`odd values at rest: ${writes.length} writes over ${op.reconciles() - start} reconciles`);
    expect(writes.map((e) => `${e.verb} ${e.objectRef?.resource}/${e.objectRef?.name ?? ''}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`)).toEqual([]);
    expect(condition(await getCluster(ns, name), 'Ready')?.status).toBe('True');
    // None of it made a reconcile throw.
    expect(logLines.filter((l) => l.includes('reconcile failed') && l.includes(`${ns}/${name}`))).toEqual([]);
  }, 400_000);
});
