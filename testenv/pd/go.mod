// Build recipe only (no Go code): pd-server v8.5.5 (commit 9c9a8c8a2568).
// github.com/tikv/pd has no /v8 path, so v8.5.5 is only reachable as a pseudo-version.
// Kept apart: PD pins etcd v3.5.x, the k8s/etcd wrappers use 3.6.
module example.invalid/tikv-operator-testenv/pd

go 1.26.0

tool github.com/tikv/pd/cmd/pd-server

require github.com/tikv/pd v1.1.0-beta.0.20251223074340-9c9a8c8a2568
