// Times as status writes them, and ages as `tikv-operator status` says them (never in
// status: an age in a message would rewrite status on every poll).

/** Kubernetes times are second-precision RFC 3339. */
export const rfc3339 = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;

/** Coarser as it grows: `40s`, `31m`, `3h`, `3d`. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return `${s}s`;
  if (s < 2 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 2 * 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
