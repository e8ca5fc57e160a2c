// A small parser for Kubernetes quantities, enough to size caches from memory limits.
// Values stay strings in manifests; this is only for arithmetic.

const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Parses a quantity (`512Mi`, `1.5Gi`, `500m`, `2`, `1e3`) to a number of base units. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9]*\.?[0-9]+)(?:([eE][+-]?[0-9]+)|([a-zA-Z]*))$/.exec(q.trim());
  if (!m) throw new Error(`invalid quantity "${q}"`);
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  const mult = SUFFIX[m[3] ?? ''];
  if (mult === undefined) throw new Error(`invalid quantity suffix in "${q}"`);
  return base * mult;
}

/** Formats bytes as a TiKV/PD size string in whole MiB (e.g. `614MiB`). */
export const toMiB = (bytes: number) => `${Math.max(1, Math.floor(bytes / 2 ** 20))}MiB`;
