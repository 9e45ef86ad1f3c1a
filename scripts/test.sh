#!/usr/bin/env bash
# The full test run (what CI runs): set-up, then one pytest session of: unit (SDK faked), static (ruff,
#   ansible-lint, ansible-doc, build/install, changelog, ansible-test sanity), the lab tool, module
#   integration on the lab, role integration, Molecule scenarios, the reliability and security suite
#   (faults, bad input, secrets), the fixed-seed subset of the randomized fault campaign (tests/campaign), and the ansible-core version matrix (tests/core: sanity and unit tests on
#   2.18, 2.20 and 2.21 - 2.19 is the venv's - and a site.yml converge on 2.18 and 2.21).
# Needs root (the lab uses network namespaces). Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
# Labs left by an interrupted earlier run of the test suite are cleaned by the fixtures;
# the demo lab (name hive) is never touched by tests.
# The reliability suite (tests/integration/reliability, last) writes its case table to
# $HIVE_RELIABILITY_RESULTS (default: a file in ${TMPDIR:-/tmp}) and prints it.
export HIVE_RELIABILITY_RESULTS="${HIVE_RELIABILITY_RESULTS:-${TMPDIR:-/tmp}/hive-swarm-reliability-results.md}"
# HIVE_TEST_WORKERS: pytest-xdist workers (default 2: most of a lab test is waiting on engines, so the run takes
# about 30 min instead of about 45 in one process on 2 cores; 0 = one process). Every test file is one xdist
# group (the reliability suite, which shares one lab, is one group; tests/conftest.py), handed out in the order
# below: the longest groups first, so no long file starts last.
WORKERS="${HIVE_TEST_WORKERS:-2}"
PARALLEL=()
if [ "$WORKERS" != "0" ]; then
  PARALLEL=(-n "$WORKERS" --dist loadgroup --no-loadscope-reorder)
fi
status=0
started="$(mktemp)"
"$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider -ra --durations=30 "${PARALLEL[@]}" \
  tests/integration/reliability tests/core tests/campaign tests/integration/roles tests/integration/modules tests/molecule \
  tests/static tests/lab tests/integration/inventory tests/unit "$@" || status=$?
if [ "$HIVE_RELIABILITY_RESULTS" -nt "$started" ]; then
  echo "== reliability and security suite: $HIVE_RELIABILITY_RESULTS"
  cat "$HIVE_RELIABILITY_RESULTS"
fi
rm -f "$started"
exit "$status"
