#!/usr/bin/env bash
# Builds the upstream binaries of the test environment (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, etcd, kwok, pd-server; for the real
# node kubelet, kube-proxy, CoreDNS and pause) from the wrapper modules
# under testenv/*/ (go.mod + go.sum; Go code only where no module has a main:
# coredns/main.go picks CoreDNS's plugins, node/pause is the sandbox process),
# using the Go module proxy and the committed go.sum files (-mod=readonly).
#
#   bash testenv/build.sh [component...]   # components: k8s kubectl etcd kwok pd node coredns (default: all)
#   bash testenv/build.sh --print-dir      # print the bin dir only, build nothing
#
# Output: ${TIKV_OPERATOR_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tikv-operator-testenv}/bin-<hash>/
# where <hash> covers testenv/*/go.mod, testenv/*/go.sum, the Go files and this script.
# Also writes paths.env there (KWOK_STAGES_DIR, KVPROTO_DIR, GOGOPROTO_DIR, ...).
# Last line of output: BIN_DIR=<dir>.  Idempotent: finished components are "cached".
# Optional components (pd) that fail are reported as warnings unless named explicitly.
set -euo pipefail
# Everything runs inside main() so that editing or checking out this file while it
# runs cannot change what the running shell executes.
main() {

  TESTENV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  SCRIPT_PATH="$TESTENV_DIR/$(basename "${BASH_SOURCE[0]}")"
  ALL_COMPONENTS=(k8s kubectl etcd kwok pd node coredns)
  OPTIONAL_COMPONENTS=" pd "

  K8S_VERSION=v1.36.3
  KWOK_VERSION=v0.8.0
  PD_RELEASE_VERSION=v8.5.5

  log() { printf '[testenv] %s\n' "$*" >&2; }
  # How often a long wait (another build's lock, a silent go build) reports progress.
  PROGRESS_SECONDS=${TESTENV_PROGRESS_SECONDS:-30}
  die() { log "ERROR: $*"; exit 1; }

  recipe_hash() {
    local f
    (
      cd "$TESTENV_DIR"
      for f in */go.mod */go.sum */*.go */*/*.go; do
        [ -f "$f" ] || continue
        printf '%s\n' "$f"
        sha256sum <"$f"
      done
      printf 'build.sh\n'
      sha256sum <"$SCRIPT_PATH"
    ) | sha256sum | cut -c1-12
  }

  CACHE_ROOT=${TIKV_OPERATOR_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tikv-operator-testenv}
  BIN_DIR="$CACHE_ROOT/bin-$(recipe_hash)"

  components=()
  for arg in "$@"; do
    case "$arg" in
      --print-dir) printf '%s\n' "$BIN_DIR"; exit 0 ;;
      -h|--help) sed -n '2,15p' "$SCRIPT_PATH"; exit 0 ;;
      k8s|kubectl|etcd|kwok|pd|node|coredns) components+=("$arg") ;;
      *) die "unknown argument '$arg' (components: ${ALL_COMPONENTS[*]}, or --print-dir)" ;;
    esac
  done
  explicit=0
  if [ ${#components[@]} -eq 0 ]; then
    components=("${ALL_COMPONENTS[@]}")
  else
    explicit=1
  fi

  # --- toolchain -------------------------------------------------------------
  GO=${GO:-}
  if [ -z "$GO" ]; then
    if command -v go >/dev/null 2>&1; then GO=$(command -v go)
    elif [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go
    else die "no 'go' found (need Go >= 1.26; kwok v0.8.0 and k8s v1.36 have 'go 1.26.0')"; fi
  fi
  export GOTOOLCHAIN=local   # never download a toolchain; fail clearly instead
  gov=$("$GO" env GOVERSION)
  gominor=$(printf '%s' "$gov" | sed -n 's/^go1\.\([0-9][0-9]*\).*/\1/p')
  [ -n "$gominor" ] && [ "$gominor" -ge 26 ] || die "$GO is $gov; Go >= 1.26 is required"
  export CGO_ENABLED=0
  # Builds must use the committed go.sum: force readonly whatever GOFLAGS says.
  GOBUILD=("$GO" build -mod=readonly -p 2 -trimpath)

  mkdir -p "$BIN_DIR"
  exec 9>"$BIN_DIR/.lock"
  if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
    # Another build (another worktree, or CI) builds the same recipe: wait, then reuse it.
    log "another build of the same binaries holds $BIN_DIR/.lock; waiting for it, then reusing what it built"
    waited=0
    until flock -w "$PROGRESS_SECONDS" 9; do
      waited=$((waited + PROGRESS_SECONDS))
      [ "$waited" -lt 7200 ] || die "still locked after ${waited}s: $BIN_DIR/.lock"
      log "still waiting for the other build (${waited}s)"
    done
    log "the other build finished after about ${waited}s"
  fi
  log "go: $gov ($GO); bin dir: $BIN_DIR"

  # binaries_of COMPONENT -> names
  binaries_of() {
    case "$1" in
      k8s) echo kube-apiserver kube-controller-manager kube-scheduler ;;
      kubectl) echo kubectl ;;
      etcd) echo etcd ;;
      kwok) echo kwok ;;
      pd) echo pd-server ;;
      node) echo kubelet kube-proxy pause ;;
      coredns) echo coredns ;;
    esac
  }

  is_cached() {
    local c=$1 b
    [ -f "$BIN_DIR/.stamp-$c" ] || return 1
    for b in $(binaries_of "$c"); do [ -x "$BIN_DIR/$b" ] || return 1; done
    return 0
  }

  # version stamps of the Kubernetes binaries (what `kubectl version` and /version report)
  k8s_ldflags() {
    local p=k8s.io/component-base/version q=k8s.io/client-go/pkg/version minor ldf="-s -w" kv
    minor=$(printf '%s' "$K8S_VERSION" | cut -d. -f2)
    for kv in "gitVersion=$K8S_VERSION" "gitMajor=1" "gitMinor=$minor" "gitTreeState=clean" \
              "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
      ldf="$ldf -X $p.$kv -X $q.$kv"
    done
    printf '%s' "$ldf"
  }

  # build_into COMPONENT TMPDIR: go build every binary of COMPONENT into TMPDIR
  build_into() {
    local c=$1 tmp=$2
    case "$c" in
      k8s)
        (cd "$TESTENV_DIR/k8s" && "${GOBUILD[@]}" -ldflags "$(k8s_ldflags)" -o "$tmp/" \
          k8s.io/kubernetes/cmd/kube-apiserver \
          k8s.io/kubernetes/cmd/kube-controller-manager \
          k8s.io/kubernetes/cmd/kube-scheduler)
        ;;
      kubectl)
        # The playground test (and a person without one) uses kubectl; same module set as k8s.
        (cd "$TESTENV_DIR/k8s" && "${GOBUILD[@]}" -ldflags "$(k8s_ldflags)" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl)
        ;;
      node)
        # Same module and flags as k8s, so the shared packages come from the build cache.
        (cd "$TESTENV_DIR/k8s" && "${GOBUILD[@]}" -ldflags "$(k8s_ldflags)" -o "$tmp/" \
          k8s.io/kubernetes/cmd/kubelet \
          k8s.io/kubernetes/cmd/kube-proxy)
        (cd "$TESTENV_DIR/node" && "${GOBUILD[@]}" -ldflags "-s -w" -o "$tmp/pause" ./pause)
        ;;
      coredns)
        (cd "$TESTENV_DIR/coredns" && "${GOBUILD[@]}" \
          -ldflags "-s -w" \
          -o "$tmp/coredns" .)
        ;;
      etcd)
        (cd "$TESTENV_DIR/etcd" && "${GOBUILD[@]}" -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
        ;;
      kwok)
        (cd "$TESTENV_DIR/kwok" && "${GOBUILD[@]}" \
          -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
          -o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok)
        ;;
      pd)
        if [ ! -f "$TESTENV_DIR/pd/go.sum" ]; then
          log "pd: testenv/pd has no go.sum: the module proxy refuses github.com/tikv/pd at the v8.5.5 pseudo-version (403, see testenv/NOTES.md)"
          return 1
        fi
        (cd "$TESTENV_DIR/pd" && "${GOBUILD[@]}" -tags without_dashboard \
          -ldflags "-s -w -X github.com/tikv/pd/pkg/versioninfo.PDReleaseVersion=$PD_RELEASE_VERSION -X github.com/tikv/pd/pkg/versioninfo.PDEdition=Community" \
          -o "$tmp/pd-server" github.com/tikv/pd/cmd/pd-server)
        ;;
    esac
  }

  build_component() {
    local c=$1 start tmp b rc=0
    if is_cached "$c"; then
      log "$c: cached ($(binaries_of "$c"))"
      return 0
    fi
    start=$(date +%s)
    log "$c: building $(binaries_of "$c") ..."
    tmp=$(mktemp -d "$BIN_DIR/.tmp-$c.XXXXXX")
    # go build prints nothing for minutes on a cold cache: say it is still at it.
    ( while sleep "$PROGRESS_SECONDS"; do log "$c: still building ($(( $(date +%s) - start ))s)"; done ) &
    ticker=$!
    build_into "$c" "$tmp" || rc=$?
    kill "$ticker" 2>/dev/null || true
    wait "$ticker" 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
      rm -rf "$tmp"
      log "$c: FAILED after $(( $(date +%s) - start ))s (exit $rc)"
      return "$rc"
    fi
    rm -f "$BIN_DIR/.stamp-$c"
    for b in $(binaries_of "$c"); do
      [ -x "$tmp/$b" ] || { rm -rf "$tmp"; log "$c: $b missing after build"; return 1; }
      mv -f "$tmp/$b" "$BIN_DIR/$b"   # rename within one directory: atomic
    done
    rm -rf "$tmp"
    printf 'built=%s secs=%s go=%s\n' "$(date -u +%FT%TZ)" "$(( $(date +%s) - start ))" "$gov" >"$BIN_DIR/.stamp-$c"
    log "$c: done in $(( $(date +%s) - start ))s"
  }

  # module_dir WRAPPER MODULE -> extracted module directory (downloads it if needed)
  module_dir() {
    (cd "$TESTENV_DIR/$1" && "$GO" mod download -json "$2" 2>/dev/null) |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
  }

  write_paths_env() {
    local kwok_dir kvproto_dir gogo_dir tmp
    kwok_dir=$(module_dir kwok sigs.k8s.io/kwok || true)
    kvproto_dir=$(module_dir protos github.com/pingcap/kvproto || true)
    gogo_dir=$(module_dir protos github.com/gogo/protobuf || true)
    [ -n "$kwok_dir" ] && [ -d "$kwok_dir/kustomize/stage" ] || log "WARNING: kwok stage YAMLs not found (sigs.k8s.io/kwok module dir '$kwok_dir')"
    [ -n "$kvproto_dir" ] && [ -f "$kvproto_dir/proto/pdpb.proto" ] || log "WARNING: kvproto protos not available (github.com/pingcap/kvproto, see testenv/NOTES.md)"
    [ -n "$gogo_dir" ] && [ -f "$gogo_dir/gogoproto/gogo.proto" ] || log "WARNING: gogo.proto not available (github.com/gogo/protobuf)"
    tmp=$(mktemp "$BIN_DIR/.paths.env.XXXXXX")
    {
      printf '# written by testenv/build.sh; module dirs are in the Go module cache (read-only)\n'
      printf 'KWOK_STAGES_DIR=%s\n' "${kwok_dir:+$kwok_dir/kustomize/stage}"
      printf 'KVPROTO_DIR=%s\n' "$kvproto_dir"
      # include path for kvproto's own imports (rustproto.proto, gogoproto/gogo.proto, google/protobuf/*)
      printf 'KVPROTO_INCLUDE_DIR=%s\n' "${kvproto_dir:+$kvproto_dir/include}"
      printf 'GOGOPROTO_DIR=%s\n' "$gogo_dir"
      # import roots for @grpc/proto-loader includeDirs (':'-separated). kvproto/include is
      # self-contained (gogoproto/gogo.proto, rustproto.proto, eraftpb.proto, google/protobuf/*);
      # prefer it to GOGOPROTO_DIR, whose gogo.proto/descriptor.proto are other revisions.
      printf 'PROTO_INCLUDE_DIRS=%s\n' "${kvproto_dir:+$kvproto_dir/proto:$kvproto_dir/include}"
    } >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$BIN_DIR/paths.env"
  }

  failed=()
  for c in "${components[@]}"; do
    if ! build_component "$c"; then
      if [ "$explicit" -eq 0 ] && [[ "$OPTIONAL_COMPONENTS" == *" $c "* ]]; then
        log "WARNING: optional component '$c' not built (see testenv/NOTES.md); continuing"
      else
        failed+=("$c")
      fi
    fi
  done
  write_paths_env
  ls -l "$BIN_DIR" >&2 || true
  if [ ${#failed[@]} -gt 0 ]; then
    log "FAILED: ${failed[*]}"
    echo "BIN_DIR=$BIN_DIR"
    exit 1
  fi
  echo "BIN_DIR=$BIN_DIR"
}

main "$@"
exit $?
