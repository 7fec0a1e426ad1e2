#!/usr/bin/env bash
# Bound issue 12's heartbeat directions: `make ratios` on the code as it is, then with each
# experiment patch applied (and taken back off, even on Ctrl-C). Needs a clean tree.
# Usage: loadtest/experiments/bound.sh [patch ...]   (default: every *.patch here)
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! git diff --quiet || ! git diff --cached --quiet; then
    echo "bound.sh applies patches to the working tree: commit or stash your changes first" >&2
    exit 2
fi
patches=("$@")
[ ${#patches[@]} -gt 0 ] || patches=(loadtest/experiments/*.patch)
applied=""
trap '[ -n "$applied" ] && git apply -R "$applied"' EXIT
echo "== as committed"
make ratios 2>&1 | grep -E "^(pass|median)"
for patch in "${patches[@]}"; do
    echo "== with $patch"
    git apply "$patch"
    applied="$patch"
    make ratios 2>&1 | grep -E "^(pass|median)"
    git apply -R "$patch"
    applied=""
done
