#!/usr/bin/env bash
# Run `ansible-test sanity` from an ansible_collections/hive/swarm copy of the tracked tree.
# No ignore files: tests/sanity/ignore-*.txt must not exist.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if compgen -G "tests/sanity/ignore-*.txt" >/dev/null; then
  echo "sanity: ignore files are not allowed: $(ls tests/sanity/ignore-*.txt)" >&2; exit 1
fi
dest="$ROOT/build/sanity/ansible_collections/hive/swarm"
rm -rf "$ROOT/build/sanity"
mkdir -p "$dest"
git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$dest/"
"$ROOT/scripts/ansible-test-offline.sh" >/dev/null
cd "$dest"
py="$("$ROOT/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
PATH="$ROOT/.venv/bin:$PATH" ansible-test sanity --venv --python "$py" --color no "$@"
