# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation shared by the hive.swarm modules.

``hive.swarm.swarm``       the common connection options (plugins/module_utils/_swarm/options.py)
``hive.swarm.swarm.spec``  the SwarmSpec options (plugins/module_utils/_swarm/spec.py)
Option names match the argument specs one for one (tests/unit checks it).
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker Engine API endpoint, for example V(unix:///run/docker.sock) or V(tcp://10.0.0.11:2376).
      - If not set, the environment variable E(DOCKER_HOST) on the managed host is used, then the default.
      - The client is built from these options only, never from a Docker CLI context.
    type: str
    default: unix:///run/docker.sock
  tls:
    description:
      - Connect with TLS without verifying the Engine's certificate (see O(validate_certs)).
      - If not set, E(DOCKER_TLS) is used.
    type: bool
    default: false
  validate_certs:
    description:
      - Connect with TLS and verify the Engine's certificate against O(ca_path) (or the system CA bundle).
      - Implies O(tls). If not set, E(DOCKER_TLS_VERIFY) is used.
    type: bool
    default: false
    aliases: [tls_verify]
  ca_path:
    description:
      - CA certificate file used to verify the Engine's certificate when O(validate_certs=true).
      - Environment variables such as E(REQUESTS_CA_BUNDLE) or E(CURL_CA_BUNDLE) do not replace it (nor turn
        verification on when O(validate_certs=false)); without O(ca_path) they may name the system CA bundle.
      - If not set and E(DOCKER_CERT_PATH) names a directory, its C(ca.pem) is used (as the Docker CLI does).
    type: path
    aliases: [ca_cert]
  client_cert:
    description:
      - Client certificate file presented to the Engine (TLS client authentication). Needs O(client_key).
      - Holding a client certificate of an Engine is root on that host.
      - If not set and E(DOCKER_CERT_PATH) names a directory, its C(cert.pem) is used.
    type: path
  client_key:
    description:
      - Private key file of O(client_cert).
      - If not set and E(DOCKER_CERT_PATH) names a directory, its C(key.pem) is used.
    type: path
  tls_hostname:
    description:
      - Host name expected in the Engine's certificate, when it differs from the host in O(docker_host).
      - Used only with O(validate_certs=true). If not set, E(DOCKER_TLS_HOSTNAME) is used.
    type: str
  api_version:
    description:
      - Engine API version to use, for example V(1.41).
      - V(auto) uses the Engine's own version, learnt from the first request (no extra request).
      - A pinned version must be in the Engine's range (for example 1.24 to 1.51 for Docker Engine 28.5) and not
        below the Docker SDK's own minimum (1.21 for docker 5.x, 1.24 for 7.x); else the module fails with
        C(error_type=APIVersionError). Options newer than a pinned version fail with C(error_type=UnsupportedOption).
      - If not set, E(DOCKER_API_VERSION) is used.
    type: str
    default: auto
  timeout:
    description:
      - Seconds to wait for one Engine API request. Joining can take about 20 seconds when a manager is unreachable.
      - If not set, E(DOCKER_TIMEOUT) is used.
    type: int
    default: 60
requirements:
  - Docker SDK for Python (C(docker)) >= 5.0.3 on the managed host (Debian/Ubuntu C(python3-docker) is enough).
    Options that need a newer SDK or Engine API say so when they are used.
  - Docker Engine API >= 1.24; tested with Engine 20.10 (API 1.41).
notes:
  - Secrets (join tokens, unlock keys, CA keys) are never returned unless an option asks for them; set C(no_log) on
    tasks that ask.
"""

    SPEC = r"""
options:
  name:
    description:
      - Name of the swarm object. The Engine calls its swarm V(default).
    type: str
  labels:
    description:
      - Labels of the swarm object (not of nodes).
    type: dict
  task_history_retention_limit:
    description:
      - Number of finished tasks kept per service slot.
    type: int
  snapshot_interval:
    description:
      - Number of raft log entries between snapshots.
    type: int
  keep_old_snapshots:
    description:
      - Number of raft snapshots kept beyond the current one.
    type: int
  log_entries_for_slow_followers:
    description:
      - Number of raft log entries kept after a snapshot to sync slow followers.
    type: int
  heartbeat_tick:
    description:
      - Raft heartbeat tick. Stored by the Engine, but dockerd runs raft with its built-in value.
    type: int
  election_tick:
    description:
      - Raft election tick. Stored by the Engine, but dockerd runs raft with its built-in value.
    type: int
  dispatcher_heartbeat_period:
    description:
      - How often agents send heartbeats to the dispatcher. Seconds, or a duration string like V(5s) or V(1m).
      - Returned as seconds.
    type: raw
  node_cert_expiry:
    description:
      - Validity of node certificates. Seconds, or a duration string like V(2160h) or V(90d).
      - Returned as seconds.
    type: raw
  external_cas:
    description:
      - External certificate authorities that sign node certificates (needs Engine API >= 1.25).
    type: list
    elements: dict
    suboptions:
      url:
        description: URL of the CA's signing endpoint.
        type: str
        required: true
      protocol:
        description: Protocol of the external CA.
        type: str
        default: cfssl
        choices: [cfssl]
      options:
        description: Protocol-specific options.
        type: dict
      ca_cert:
        description: Root CA certificate (PEM) this CA issues under; default the swarm's root CA.
        type: str
  signing_ca_cert:
    description:
      - Desired signing CA certificate (PEM) for node certificates. Changing it rotates the swarm root CA.
      - Needs Engine API >= 1.30.
    type: str
  signing_ca_key:
    description:
      - Private key (PEM) of O(signing_ca_cert). Needs O(signing_ca_cert). Never returned or logged.
      - The Engine never returns the current key, so only a change of O(signing_ca_cert) is detected.
    type: str
  ca_force_rotate:
    description:
      - A counter; setting it to a different value forces a root CA rotation. Needs Engine API >= 1.30.
    type: int
  autolock:
    description:
      - Lock the managers' raft data with a key (autolock). Managers restarted later stay locked until unlocked.
      - Needs Engine API >= 1.25.
    type: bool
"""
