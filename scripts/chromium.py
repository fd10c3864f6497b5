"""Debian's Chromium as the browser tests and scripts/screenshots.py start it: headless, and
with nothing fetched from off this machine (the network is closed; without these flags it
keeps trying Google's hosts)."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
