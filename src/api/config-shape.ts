// How deeply spec.*.config may nest, as one definition read twice: the CRD's schema for the
// free-form config (so the apiserver refuses a deeper tree at admission) and the operator's
// check (iterative, so a tree nested thousands of levels deep, which the apiserver's
// 10,000-level JSON limit lets through an older CRD, cannot overflow the stack).
//
// The shape: tables nest up to CONFIG_MAX_KEY_DEPTH keys deep (`a.b.c.d.e.f.g.h = 1`), and an
// array's items are scalars, or tables/arrays of scalars (PD's
// `label-property.reject-leader = [{key = "zone", value = "z1"}]`). The deepest real PD and
// TiKV settings need four keys (`rocksdb.defaultcf.titan.min-blob-size`).

export const CONFIG_MAX_KEY_DEPTH = 8;

/** A position in the tree: `table(n)` may hold n more levels of tables; `item` is an array item. */
type Slot = { kind: 'table'; depth: number } | { kind: 'item' };

const TOP: Slot = { kind: 'table', depth: CONFIG_MAX_KEY_DEPTH - 1 };
const LEAF: Slot = { kind: 'table', depth: 0 };

/** Where the children of a table or array in `slot` go; undefined when it must stay empty. */
function childSlots(slot: Slot): { table: Slot; array: Slot } | undefined {
  if (slot.kind === 'item') return { table: LEAF, array: LEAF };
  if (slot.depth === 0) return undefined;
  return { table: { kind: 'table', depth: slot.depth - 1 }, array: { kind: 'item' } };
}

type Schema = Record<string, unknown>;

/**
 * The structural schema of a config's values: untyped nodes that keep unknown fields, with
 * `additionalProperties`/`items` one level down, and `maxProperties: 0`/`maxItems: 0` where
 * nothing may nest any more. Grows linearly with the depth (array items get a fixed shape).
 */
function slotSchema(slot: Slot): Schema {
  const children = childSlots(slot);
  if (!children) return { 'x-kubernetes-preserve-unknown-fields': true, maxProperties: 0, maxItems: 0 };
  return {
    'x-kubernetes-preserve-unknown-fields': true,
    additionalProperties: slotSchema(children.table),
    items: slotSchema(children.array),
  };
}

/** The CRD schema of spec.*.config (a table whose values follow the shape above). */
export function configSchema(description: string): Schema {
  return { type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true, additionalProperties: slotSchema(TOP) };
}

export const CONFIG_DEPTH_MESSAGE =
  `nested too deeply: config tables nest at most ${CONFIG_MAX_KEY_DEPTH} keys deep, ` +
  'and array items are scalars or tables/arrays of scalars';

export interface TreeIssue {
  path: string;
  message: string;
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;
const MAX_PATH = 300;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

const keyPath = (parent: string, key: string) => `${parent}.${BARE_KEY.test(key) ? key : JSON.stringify(key)}`;

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Everything in a config tree that TOML cannot hold or the shape does not allow, without
 * recursion: nulls, non-finite numbers, integers beyond TOML's 64 bits, nesting too deep.
 * Stops after `limit` issues.
 */
export function configTreeIssues(config: Record<string, unknown>, path: string, limit = 20): TreeIssue[] {
  const issues: TreeIssue[] = [];
  const stack: Array<{ value: unknown; path: string; slot: Slot }> = [];
  const pushChildren = (value: Record<string, unknown> | unknown[], p: string, slot: Slot) => {
    const entries: Array<[string, unknown]> = Array.isArray(value)
      ? value.map((v, i) => [`${p}[${i}]`, v])
      : Object.keys(value).map((k) => [keyPath(p, k), value[k]]);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [childPath, child] = entries[i] as [string, unknown];
      stack.push({ value: child, path: childPath, slot });
    }
  };
  pushChildren(config, path, TOP);
  while (stack.length && issues.length < limit) {
    const { value, path: p, slot } = stack.pop() as { value: unknown; path: string; slot: Slot };
    const report = (message: string) => issues.push({ path: p.length > MAX_PATH ? `${p.slice(0, MAX_PATH)}…` : p, message });
    if (value === null || value === undefined) report('null is not representable in TOML; remove the key instead');
    else if (typeof value === 'number' && !Number.isFinite(value)) report('must be a finite number');
    else if (typeof value === 'bigint' && (value < INT64_MIN || value > INT64_MAX)) report("integer out of TOML's 64-bit range");
    else if (Array.isArray(value) || isTable(value)) {
      const empty = Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0;
      if (empty) continue;
      const children = childSlots(slot);
      if (!children) report(CONFIG_DEPTH_MESSAGE);
      else pushChildren(value, p, Array.isArray(value) ? children.array : children.table);
    }
  }
  return issues;
}
