"""`netlab dashboard`: the Voilà dashboard, with idle kernels culled.

A kernel whose page has gone stops its capture (the dashboard's heartbeat, see
netlab.widgets.dashboard) and then goes idle; Jupyter's culler, configured here, shuts it down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from .widgets.notebooks import write_dashboard

REPO_NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "dashboard.ipynb"


def voila_command(notebook: Path, *, host: str, port: int, idle: float, cull: float) -> list[str]:
    """The Voilà command line."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={host}",
        f"--MappingKernelManager.cull_idle_timeout={int(cull)}",
        f"--MappingKernelManager.cull_interval={max(1, int(cull // 3))}",
        "--MappingKernelManager.cull_connected=False",
    ]


def start(
    source: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8866,
    idle: float = 90.0,
    cull: float = 60.0,
    env: dict[str, str] | None = None,
    log: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start Voilà on the dashboard notebook (in the background) and return the process."""
    notebook = REPO_NOTEBOOK
    if not notebook.exists():
        notebook = write_dashboard(Path(tempfile.mkdtemp(prefix="netlab-")) / "dashboard.ipynb")
    child_env = {**os.environ, **(env or {}), "NETLAB_DASHBOARD_IDLE": str(idle)}
    if source:
        child_env["NETLAB_SOURCE"] = source
    return subprocess.Popen(
        voila_command(notebook, host=host, port=port, idle=idle, cull=cull),
        env=child_env,
        stdout=log,
        stderr=log,
    )


def wait_ready(
    host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 60.0
) -> str:
    """Wait until Voilà serves its assets (not GET /: each GET / starts a kernel)."""
    url = f"http://{host}:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voila exited with status {process.returncode}")
        try:
            if httpx.get(url + "voila/static/voila.js", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"voila did not answer on {url} within {timeout:g} s")
