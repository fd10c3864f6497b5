#!/usr/bin/env bash
# Give live-capture rights (Linux) to a copy of the project's interpreter, and to nothing else.
#
# setcap on the interpreter itself would give capture rights to every Python program of every
# user (the venv's python is a link to the system one). So this copies the interpreter into
# .venv/bin/python-capture and grants cap_net_raw,cap_net_admin to that copy only; it still
# uses the venv (its pyvenv.cfg). Run netlab through it:
#   .venv/bin/python-capture -m netlab dashboard        (its kernels inherit the rights)
#   .venv/bin/python-capture -m netlab capture -i eth0
# The other least-privilege choice: run only `sudo .venv/bin/netlab serve --source eth0` and
# connect to it from an unprivileged notebook with netlab.Capture("ws://127.0.0.1:8765/ws").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
REAL="$(readlink -f "$VENV/bin/python")"
COPY="$VENV/bin/python-capture"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
cp -f "$REAL" "$COPY"
echo "granting cap_net_raw,cap_net_admin to $COPY (a copy of $REAL) only"
$SUDO setcap cap_net_raw,cap_net_admin=eip "$COPY"
getcap "$COPY"
echo "run netlab with rights as: $COPY -m netlab ..."
