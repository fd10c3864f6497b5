#!/usr/bin/env bash
# Give the project's Python interpreter live-capture rights (Linux), so netlab can capture
# without running as root. Every program run by that interpreter gets the rights: prefer a
# dedicated interpreter (the venv's resolves to the system one) or `netlab serve` as root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${1:-$ROOT/.venv/bin/python}"
REAL="$(readlink -f "$PY")"
echo "granting cap_net_raw,cap_net_admin to $REAL"
sudo setcap cap_net_raw,cap_net_admin=eip "$REAL"
getcap "$REAL"
