#!/usr/bin/env bash
# The main job: bring up the local lab (3 managers + 2 workers, each a real dockerd in its own
# namespaces) and converge it into one swarm with site.yml, then print the cluster.
# Override the shape with HIVE_MANAGERS / HIVE_WORKERS. Tear down with: lab/hivelab down
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
lab/hivelab up --name hive --net 0 --managers "${HIVE_MANAGERS:-3}" --workers "${HIVE_WORKERS:-2}"
inv="$(lab/hivelab inventory --name hive)"
ansible-playbook -i "$inv" site.yml
ansible-playbook -i "$inv" playbooks/status.yml
echo
echo "Lab inventory: $inv   (re-run: ansible-playbook -i $inv site.yml; tear down: lab/hivelab down)"
