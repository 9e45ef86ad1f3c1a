#!/usr/bin/env bash
# Run `ansible-test sanity` from an ansible_collections/hive/swarm copy of the tracked tree.
# No ignore files: tests/sanity/ignore-*.txt must not exist.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if compgen -G "tests/sanity/ignore-*.txt" >/dev/null; then
  echo "sanity: ignore files are not allowed: $(ls tests/sanity/ignore-*.txt)" >&2; exit 1
fi
# Outside the work tree: inside it, ansible-test sees the checkout's git and skips every target.
work="${TMPDIR:-/tmp}/hive-swarm-sanity"
dest="$work/ansible_collections/hive/swarm"
rm -rf "$work"
mkdir -p "$dest"
git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$dest/"
"$ROOT/scripts/ansible-test-offline.sh" >/dev/null
cd "$dest"
py="$("$ROOT/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
rc=0
PATH="$ROOT/.venv/bin:$PATH" ansible-test sanity --venv --python "$py" --color no "$@" 2>&1 | tee "$out" || rc=$?
# Refuse a vacuous pass: ansible-test exits 0 when it finds nothing to test.
if grep -q "All targets skipped" "$out"; then echo "sanity: no targets found in $dest" >&2; exit 1; fi
exit "$rc"
