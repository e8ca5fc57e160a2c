// The admission fence. Every PD and TiKV pod is created with a scheduling gate, so it is
// never scheduled (it never runs PD or TiKV) until the operator removes the gate. The
// operator removes it only for ordinals it wants, and only one reconcile of a cluster runs
// at a time (a per-key work queue under one leader), so "the pod is still gated" is proof
// that the pod never ran and cannot start before the operator lets it. A scale-in leans on
// that proof instead of on a PD read that a just-starting store could outrun.
//
// PVCs carry what the operator learnt about their data: the volumeClaimTemplate marks a
// new claim `pending` (no pod ever admitted onto it); the operator flips it to `admitted`
// before it admits the first pod, and records which store or member lived on it before it
// asks PD to remove that store or member.

/** The pod scheduling gate (spec.schedulingGates) on every PD and TiKV pod template. */
export const ADMISSION_GATE = 'tikv.org/admission';

/** PVC annotation: `pending` (from the volumeClaimTemplate) until a pod is admitted onto it, then `admitted`. */
export const CLAIM_ADMISSION_ANNOTATION = 'tikv.org/admission';
export const CLAIM_PENDING = 'pending';
export const CLAIM_ADMITTED = 'admitted';
/** PVC annotation: the PD cluster ID the first pod admitted onto a `pending` TiKV PVC belonged to. */
export const CLAIM_CLUSTER_ID_ANNOTATION = 'tikv.org/pd-cluster-id';
/** PVC annotation: the TiKV store (id) whose data the PVC holds, recorded before PD is asked to remove it. */
export const CLAIM_STORE_ANNOTATION = 'tikv.org/store-id';
/** PVC annotation: the PD member (id) whose data the PVC holds, recorded before PD is asked to remove it. */
export const CLAIM_MEMBER_ANNOTATION = 'tikv.org/pd-member-id';
