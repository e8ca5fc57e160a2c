// The steps of one reconcile have one set of names: the list in steps.ts, the order
// reconcile() runs them in, the `step` field of every log entry it writes, and the README's
// "What the operator does". A step renamed or added in one place and not the others fails
// here.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { names } from '../../../src/api/names.js';
import { STEPS } from '../../../src/controller/reconcile/steps.js';
import { basicCluster, NAME, World } from './fakes.js';

const n = names(NAME);
const source = (file: string) => readFileSync(new URL(`../../../src/controller/reconcile/${file}`, import.meta.url), 'utf8');

describe('the step names', () => {
  it('are the order in which reconcile() calls the steps', () => {
    const text = source('reconciler.ts');
    const body = text.slice(text.indexOf('private async steps('), text.indexOf('private async result('));
    const called = [...body.matchAll(/const \w+ = (?:await )?(\w+)\(pass\b/g)].map((m) => m[1]);
    expect(called).toEqual([...STEPS]);
  });

  it('each name a file of its own in reconcile/, whose log entries carry it', () => {
    const files = readdirSync(new URL('../../../src/controller/reconcile/', import.meta.url));
    for (const step of STEPS) {
      expect(files).toContain(`${step}.ts`);
      const text = source(`${step}.ts`);
      expect(text).toMatch(new RegExp(`export (async )?function ${step}\\(`));
      // A step that logs says which it is with the one constant (roll and status log nothing of their own).
      if (/\blog\.(debug|info|warn|error)\(/.test(text)) expect(text).toContain(`const step: Step = '${step}';`);
    }
  });

  it("are the README's numbered list of what the operator does", () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## What the operator does'), readme.indexOf('**Downgrades are refused'));
    const listed = [...section.matchAll(/^\d+\. \*\*(\w+)\*\*/gm)].map((m) => m[1]);
    expect(listed).toEqual([...STEPS]);
  });

  it('are the only values of the `step` field the reconciler logs, over bring-up, scale-in, a roll, a bad spec and PD down', async () => {
    const w = await World.atRest(3, 3);
    w.store.editSpec((s) => {
      s.tikv = { replicas: 2 };
    });
    await w.reconcile();
    w.store.editSpec((s) => {
      s.tikv = { replicas: 3 };
      s.version = 'v8.5.6';
    });
    for (let i = 0; i < 5; i++) {
      w.store.runStatefulSet(n.pdStatefulSet);
      w.store.runStatefulSet(n.tikvStatefulSet);
      w.advance(1000);
      await w.reconcile();
    }
    w.pd.reachable = false;
    await w.reconcile();
    const bad = new World(basicCluster({ pd: { replicas: 'three' } }));
    await bad.reconcile();
    const logged = [...w.logged, ...bad.logged].filter((e) => e.step !== undefined).map((e) => e.step);
    for (const step of logged) expect(STEPS).toContain(step);
    expect(new Set(logged)).toEqual(new Set(['validate', 'observe', 'apply', 'act', 'status']));
  });
});
