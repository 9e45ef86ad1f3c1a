#!/usr/bin/env bash
# The benchmark (not part of the test run): set-up like scripts/demo.sh, then bench/bench.py.
#   bash bench/run.sh [--sizes 3+2,3+5,3+20,3+50] [--reps 3] [--profile] [--variant forks5 ...]
#   bash bench/run.sh --against recipe --sizes 3+2,3+20 --reps 3   # against bench/recipe/site.yml (issue 16);
#                                                                  # creates bench/.venv-recipe on first use
# Needs root. Uses its own lab (bench, 198.18.40.0/24) and brings it down at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
exec "$ROOT/.venv/bin/python" "$ROOT/bench/bench.py" "$@"
