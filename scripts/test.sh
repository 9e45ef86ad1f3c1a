#!/usr/bin/env bash
# The full test run (what CI runs): set-up, then one pytest session ordered fast -> slow:
#   unit (SDK faked) -> static (ruff, ansible-lint, ansible-doc, build/install, changelog,
#   ansible-test sanity) -> lab tool -> module integration on the lab -> role integration
#   -> Molecule scenarios -> reliability and security suite (faults, bad input, secrets).
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
exec "$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider -ra --durations=25 \
  tests/unit tests/static tests/lab tests/integration/inventory tests/integration/modules \
  tests/integration/roles tests/molecule tests/integration/reliability "$@"
