#!/usr/bin/env bash
# ansible-test bootstraps pip in its venvs with a get-pip script it downloads from the internet.
# It looks for ~/.ansible/test/cache/get_pip_<ver>.py first: provide a stand-in that installs
# that pip version from a local wheel (fetched once from the package index with `pip download`).
# HIVE_VENV: the venv whose ansible-test is served (default .venv of the checkout; tests/core uses one per
# ansible-core version). Prints the script's path.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HIVE_VENV:-$ROOT/.venv}"
ver="$("$VENV/bin/python" - <<'PY'
import pathlib, re, ansible_test
src = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
m = re.search(r"pip='([0-9.]+)'", src)
print(m.group(1) if m else "")
PY
)"
[[ -n "$ver" ]] || { echo "cannot tell ansible-test's pip version" >&2; exit 1; }
cache="$HOME/.ansible/test/cache"
wheels="$cache/wheels"
script="$cache/get_pip_${ver//./_}.py"
mkdir -p "$wheels"
ls "$wheels"/pip-"$ver"-*.whl >/dev/null 2>&1 ||
  "$VENV/bin/python" -m pip download -q --no-deps -d "$wheels" "pip==$ver"
# Written to a temporary file and renamed: a sanity run of another venv may be reading it right now.
tmp="$(mktemp "$script.XXXXXX")"
cat >"$tmp" <<PY
# Local stand-in for get-pip.py (written by hive.swarm scripts/ansible-test-offline.sh).
import glob, subprocess, sys
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
wheel = glob.glob("$wheels/pip-$ver-*.whl")[0]
# ansible-test passes get-pip options (pip==X, --no-setuptools, --no-wheel): the wheel is all we need.
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check", wheel])
PY
chmod 644 "$tmp"
mv -f "$tmp" "$script"
echo "$script"
