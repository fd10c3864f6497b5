#!/usr/bin/env bash
# Shared set-up for scripts/test and scripts/demo: system packages (as root), .venv, the project.
# Idempotent and quick on a second run: it only installs what is missing or changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
EXTRAS="${NETLAB_EXTRAS-test}"  # "" installs the runtime set only (scripts/demo)

# System packages: libpcap for capture and BPF, tcpdump and tshark as references, iproute2
# for namespaces, libcap2-bin/util-linux for dropping capabilities in tests.
DEB_PACKAGES=(libpcap0.8 tcpdump tshark iproute2 libcap2-bin util-linux ${NETLAB_EXTRA_DEBS:-})
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages (${missing[*]}); install them as root:" >&2
    echo "       sudo apt-get install ${missing[*]}" >&2
    echo "       (tests that need them are skipped with a reason)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.netlab-installed-${EXTRAS:-runtime}"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  spec="."
  [ -n "$EXTRAS" ] && spec=".[$EXTRAS]"
  echo "setup: installing netlab${EXTRAS:+[$EXTRAS]} into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e "$spec"
  echo "$want" > "$stamp"
fi
