"""`netlab dashboard`: the Voilà dashboard, with idle kernels culled.

A kernel whose page has gone stops its capture (the dashboard's heartbeat, see
netlab.widgets.dashboard) and then goes idle; Jupyter's culler, configured here, shuts it down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ..data import JUPYTER_DATA
from ..errors import DashboardError
from .notebook import write_dashboard

REPO_NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "dashboard.ipynb"
# netlab's Voilà template (the lab one, serving everything from this machine)


def voila_command(
    notebook: Path, *, host: str, port: int, idle: float, cull: float, max_kernels: int = 8
) -> list[str]:
    """The Voilà command line (secrets go in its config file, never here: `ps` shows it)."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        "--template=netlab",
        f"--port={port}",
        f"--Voila.ip={host}",
        f"--MappingKernelManager.cull_idle_timeout={int(cull)}",
        f"--MappingKernelManager.cull_interval={max(1, int(cull // 3))}",
        "--MappingKernelManager.cull_connected=False",
        "--VoilaConfiguration.multi_kernel_manager_class=netlab.dashboard.kernels.LimitedKernelManager",
        f"--LimitedKernelManager.max_kernels={max_kernels}",
        # ?theme=dark (or light) on the page's URL picks JupyterLab's theme
        "--VoilaConfiguration.allow_theme_override=YES",
    ]


def check_dashboard_bind(host: str, token: str) -> None:
    """Refuse to serve the dashboard beyond loopback without a token (as `netlab serve`)."""
    from ..core.addresses import is_loopback
    from ..errors import SettingsError

    if not is_loopback(host) and not token:
        raise SettingsError(
            f"refusing to serve the dashboard on {host!r} without a token: anyone who can "
            "reach it would see your traffic and could start kernels. Set "
            "NETLAB_DASHBOARD_TOKEN (open the page as http://HOST:PORT/?token=...), or bind "
            "127.0.0.1"
        )


def _config_dir(token: str) -> str:
    """A private Jupyter config directory holding Voilà's token (mode 0700/0600)."""
    import json

    path = Path(tempfile.mkdtemp(prefix="netlab-voila-"))  # created 0700
    config = path / "voila.json"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"Voila": {"token": token}}, fh)
    return str(path)


def start(
    source: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8866,
    idle: float = 90.0,
    cull: float = 60.0,
    env: dict[str, str] | None = None,
    log: int | None = None,
    token: str = "",
    max_kernels: int = 8,
) -> subprocess.Popen[bytes]:
    """Start Voilà on the dashboard notebook (in the background) and return the process.

    Beyond loopback a token is required (SettingsError otherwise); the page then needs
    `?token=...`. At most `max_kernels` pages run at once (the next ones answer 503)."""
    check_dashboard_bind(host, token)
    notebook = REPO_NOTEBOOK
    if not notebook.exists():
        notebook = write_dashboard(Path(tempfile.mkdtemp(prefix="netlab-")) / "dashboard.ipynb")
    child_env = {**os.environ, **(env or {}), "NETLAB_DASHBOARD_IDLE": str(idle)}
    child_env["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(JUPYTER_DATA), child_env.get("JUPYTER_PATH", "")) if p
    )
    if source:
        child_env["NETLAB_SOURCE"] = source
    if token:
        child_env["JUPYTER_CONFIG_DIR"] = _config_dir(token)
    # A session of its own: a Ctrl-C in the terminal reaches netlab only, which then stops
    # Voilà in order (Jupyter's own SIGINT handler waits for a "y" on stdin and carries on).
    process = subprocess.Popen(
        voila_command(
            notebook, host=host, port=port, idle=idle, cull=cull, max_kernels=max_kernels
        ),
        env=child_env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    _private_dirs[process.pid] = child_env.get("JUPYTER_CONFIG_DIR", "") if token else ""
    return process


_private_dirs: dict[int, str] = {}  # Voilà's pid -> its token's config directory


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (kernels run in sessions of their own, so not its group)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Stop Voilà and every kernel it started: SIGTERM (Jupyter shuts its kernels down), then
    SIGKILL for whatever is left after `timeout` seconds. Idempotent."""
    below = _descendants(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    for pid in below:  # kernels left behind by a Voilà that died or was killed
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    private = _private_dirs.pop(process.pid, "")
    if private:
        import shutil

        shutil.rmtree(private, ignore_errors=True)


def wait_ready(
    host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 60.0
) -> str:
    """Wait until Voilà serves its assets (not GET /: each GET / starts a kernel)."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::", "*") else host
    url = f"http://{shown}:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DashboardError(f"voila exited with status {process.returncode}")
        try:
            if httpx.get(url + "voila/static/voila.js", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise DashboardError(f"voila did not answer on {url} within {timeout:g} s")
