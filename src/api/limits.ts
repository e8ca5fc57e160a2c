// Kubernetes name limits, and the longest TikvCluster name that keeps every derived
// name within them.
//
// The tightest constraint is the StatefulSet controller's `controller-revision-hash`
// pod label: its value is the ControllerRevision name `<statefulset>-<hash>`, where the
// hash is a decimal FNV-32 sum encoded char-for-char (up to 10 characters), and a label
// value may hold at most 63 characters. For `<name>-tikv` that gives
// len(name) + len("-tikv") + 1 + 10 <= 63, i.e. len(name) <= 47. Services (`<name>-tikv-peer`,
// 53) and pod hostnames (`<name>-tikv-<n>`) are looser.

export const DNS1035_LABEL_MAX = 63;
export const DNS1123_SUBDOMAIN_MAX = 253;
export const LABEL_VALUE_MAX = 63;
export const REVISION_HASH_MAX = 10;

const LONGEST_STATEFULSET_SUFFIX = '-tikv';

export const MAX_CLUSTER_NAME_LENGTH = LABEL_VALUE_MAX - LONGEST_STATEFULSET_SUFFIX.length - 1 - REVISION_HASH_MAX;
