#!/usr/bin/env bash
# Builds Beam's Prism runner binary for the pinned Beam version and prints its path.
#
#   scripts/get_prism.sh            -> /root/.cache/newsbeam/prism/v2.77.0/prism
#
# Idempotent: a binary already in the cache is reused. Environment:
#   NEWSBEAM_PRISM_DIR      cache folder (default $HOME/.cache/newsbeam/prism)
#   NEWSBEAM_BEAM_VERSION   Beam version (default: the apache-beam pin of pyproject.toml)
# Needs Go (>= 1.21) and a reachable Go module proxy on the first run only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

beam_version="${NEWSBEAM_BEAM_VERSION:-}"
if [[ -z "$beam_version" ]]; then
  beam_version="$(sed -n 's/.*"apache-beam\(\[[a-z,]*\]\)\?==\([0-9.]*\)".*/\2/p' "$repo/pyproject.toml" | head -n1)"
fi
[[ -n "$beam_version" ]] || { echo "get_prism: cannot read the apache-beam pin" >&2; exit 2; }

cache="${NEWSBEAM_PRISM_DIR:-${HOME}/.cache/newsbeam/prism}/v${beam_version}"
binary="$cache/prism"

if [[ ! -x "$binary" ]]; then
  command -v go >/dev/null || { echo "get_prism: Go is not installed" >&2; exit 3; }
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "get_prism: building prism v${beam_version} (first run only, a few minutes)" >&2
  # GOBIN puts the binary in the cache; a temp GOBIN then a rename keeps a
  # half-written binary out of the cache if the build is interrupted.
  GOBIN="$tmp" GOFLAGS="${GOFLAGS:-} -mod=mod" CGO_ENABLED=0 \
    go install "github.com/apache/beam/sdks/v2/go/cmd/prism@v${beam_version}" >&2
  mv -f "$tmp/prism" "$binary"
fi

echo "$binary"
