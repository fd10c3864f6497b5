"""`netlab doctor`: every check that decides whether netlab can capture here, with fixes."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    essential: bool = True


def _tool_version(tool: str) -> str | None:
    path = shutil.which(tool)
    if not path:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return path
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else path


def run_checks() -> list[Check]:
    """Run every check; never raises."""
    from ._version import __version__
    from .config import Settings
    from .errors import NetlabError

    checks = [
        Check(
            "netlab",
            True,
            f"{__version__} on Python {platform.python_version()} ({sys.executable})",
        )
    ]
    try:
        from .sources import libpcap

        checks.append(Check("libpcap", True, libpcap.version()))
    except NetlabError as exc:
        checks.append(Check("libpcap", False, str(exc)))
        return checks
    for tool, why in (
        ("tcpdump", "reference capture in benchmarks"),
        ("tshark", "reference decoder in the conformance tests"),
    ):
        version = _tool_version(tool)
        checks.append(
            Check(
                tool,
                version is not None,
                version or f"not found ({why}; Debian: sudo apt-get install {tool})",
                essential=False,
            )
        )
    from .sources.interfaces import capture_permission, interfaces

    ok, message = capture_permission()
    checks.append(Check("capture rights", ok, message, essential=False))
    try:
        names = [f"{i.name}{'' if i.up else ' (down)'}" for i in interfaces()]
        checks.append(Check("interfaces", bool(names), ", ".join(names) or "none found"))
    except NetlabError as exc:
        checks.append(Check("interfaces", False, str(exc)))
    try:
        settings = Settings.load()
        checks.append(
            Check(
                "settings",
                True,
                f"valid (max_rows={settings.max_rows}, ai_mode={settings.ai_mode})",
            )
        )
    except NetlabError as exc:
        checks.append(Check("settings", False, str(exc)))
    return checks


def report(checks: list[Check]) -> str:
    """The checks as text, one per line."""
    lines = []
    for c in checks:
        mark = "ok  " if c.ok else ("FAIL" if c.essential else "warn")
        lines.append(f"[{mark}] {c.name:15} {c.detail}")
    return "\n".join(lines)
