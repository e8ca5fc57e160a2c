// Not built: pins the .proto sources the TypeScript PD fake loads at run time
// (pdpb.proto, metapb.proto, ... from kvproto; gogo.proto from gogo/protobuf).
// Versions are the ones github.com/tikv/pd v8.5.5 (commit 9c9a8c8a2568) requires.
// No `go mod tidy` here (it would drop these unused requires); go.sum is
// written by `go mod download` (see testenv/NOTES.md).
module example.invalid/tikv-operator-testenv/protos

go 1.26.0

require (
	github.com/gogo/protobuf v1.3.2
	github.com/pingcap/kvproto v0.0.0-20251212013835-ed676560b3b4
)
