#!/usr/bin/env bash
# Idempotent set-up of everything hive.swarm needs on a Debian/Ubuntu machine:
#   - Debian packages for the lab (docker.io, openssh-server, iproute2, iptables, busybox-static, python3-docker;
#     debian-archive-keyring: the lab verifies the newer Docker Engines it fetches on first use with it;
#     debootstrap: tests/core builds a newer Debian controller chroot with it, `lab/hivelab controller`)
#   - a controller venv in .venv with requirements/dev.txt
#   - .collections/ansible_collections/hive/swarm -> this checkout (ansible.cfg points there)
# Fast when already done: each step checks a stamp first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[bootstrap] %s\n' "$*" >&2; }

APT_PACKAGES=(docker.io openssh-server iproute2 iptables busybox-static python3-docker python3-venv
              python3-pip openssl rsync make debian-archive-keyring debootstrap)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${missing[*]} (run as root, or install them first)"; exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d: do not let the package start a system dockerd; the lab runs its own engines.
  had_policy=0; [[ -e /usr/sbin/policy-rc.d ]] && had_policy=1
  ((had_policy)) || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ((had_policy)) || rm -f /usr/sbin/policy-rc.d
fi

PY="${HIVE_PYTHON:-/usr/bin/python3}"
VENV="$ROOT/.venv"
stamp="$VENV/.requirements.sha256"
want="$(cat requirements/dev.txt "$0" | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "creating venv $VENV"
  [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
  piplog="$(mktemp)"
  # The package index can be briefly unreachable (DNS hiccups under load): retry a few times.
  ok=0
  for attempt in 1 2 3 4; do
    if { "$VENV/bin/python" -m pip install -q --upgrade pip &&
         "$VENV/bin/python" -m pip install -q -r requirements/dev.txt; } >"$piplog" 2>&1; then
      ok=1; break
    fi
    log "pip install failed (attempt $attempt), retrying"
    sleep $((attempt * 10))
  done
  if ((!ok)); then cat "$piplog" >&2; rm -f "$piplog"; log "pip install failed"; exit 1; fi
  rm -f "$piplog"
  echo "$want" >"$stamp"
fi

# The checkout as the collection hive.swarm, without installing it.
link="$ROOT/.collections/ansible_collections/hive/swarm"
if [[ ! -L "$link" ]]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn ../../.. "$link"
fi

# ansible-test bootstraps pip with a script it downloads; give it a local stand-in instead.
"$ROOT/scripts/ansible-test-offline.sh" >/dev/null
log "ready: $VENV"
