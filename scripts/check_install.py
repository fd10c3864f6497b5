#!/usr/bin/env python3
"""Check the install a user gets from `pip install netlab` alone (no extras), in a new venv.

  check_install.py [--keep DIR]

It installs this checkout with plain pip into a fresh virtual environment, then, from there:
the library imports and reads the demo capture; the test toolchain is absent; `netlab
dashboard --check` renders the Voilà dashboard; `jupyter lab` serves /lab and starts a Python
kernel. Exits 0 when all of that holds, 1 with what failed otherwise.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, text=True, capture_output=True, **kw)  # type: ignore[call-overload,no-any-return]


def _jupyter_lab(venv: Path, workdir: Path) -> str | None:
    """Start `jupyter lab`, fetch /lab, start and stop a kernel; None if all went well."""
    import httpx

    port, token = _free_port(), secrets.token_hex(16)
    proc = subprocess.Popen(
        [
            str(venv / "bin" / "jupyter"),
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={workdir}",
            *(["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                return f"jupyter lab exited with {proc.returncode}: {proc.stderr.read()[-2000:]}"
            try:
                page = httpx.get(f"{base}/lab", headers=headers, timeout=5)
                if page.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                return "jupyter lab did not answer /lab within 120 s"
            time.sleep(0.5)
        if "JupyterLab" not in page.text:
            return "/lab answered 200 without the JupyterLab page"
        kernel = httpx.post(f"{base}/api/kernels", headers=headers, json={}, timeout=60)
        if kernel.status_code != 201:
            return f"jupyter lab could not start a kernel: {kernel.status_code} {kernel.text}"
        httpx.delete(f"{base}/api/kernels/{kernel.json()['id']}", headers=headers, timeout=30)
        print(f"jupyter lab: /lab 200, kernel {kernel.json()['name']} started and stopped")
        return None
    finally:
        for signum, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, signum)
                proc.wait(wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", help="make the venv in DIR and keep it")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="netlab-install-"))
    venv = work / "venv"
    failures: list[str] = []
    try:
        if not (venv / "bin" / "python").exists():
            _run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = str(venv / "bin" / "python")
        out = _run([py, "-m", "pip", "install", "-q", str(ROOT)])
        if out.returncode:
            print(out.stdout, out.stderr)
            return 1
        smoke = (
            "import netlab; df = netlab.read_pcap(netlab.demo_pcap()); print(len(df), 'demo rows');"
            "tcp = df[df.proto == 'TCP'].iloc[0]; s = netlab.stream(df, tcp);"
            "d = netlab.dissect(tcp); print(repr(s)); print(len(d.layers), 'layers dissected');"
            # the grids' ES module and stylesheet are package data: a wheel without them
            # fails here rather than in a browser
            "from netlab.widgets import DataGrid, FlowTable;"
            "g = DataGrid(df.head(50), key='number'); assert g.total == 50, g.total;"
            "assert 'export default' in g._esm and 'netlab-grid' in g._css;"
            "print(FlowTable(df).grid.total, 'flows in the grid');"
            # archives: written and read through DuckDB, a runtime dependency
            "import tempfile; a = netlab.read_pcap(netlab.demo_pcap(), archive=tempfile.mkdtemp());"
            "n = int(a.sql('select count(*) n from packets')['n'][0]); assert n == len(df), n;"
            "print(n, 'packets archived and counted by DuckDB')"
        )
        out = _run([py, "-c", smoke], cwd=work)
        print(out.stdout.strip())
        if out.returncode:
            failures.append(f"import netlab failed: {out.stderr[-2000:]}")
        for tool in ("pytest", "playwright", "mypy", "schemathesis", "dask", "distributed"):
            if _run([py, "-m", "pip", "show", "-q", tool]).returncode == 0:
                failures.append(f"{tool} is installed without the [test] extra")
        out = _run(
            [str(venv / "bin" / "netlab"), "dashboard", "--check", "--port", str(_free_port())],
            cwd=work,
            timeout=300,
        )
        print(out.stdout.strip())
        if out.returncode or "ok" not in out.stdout:
            failures.append(f"netlab dashboard --check failed: {out.stdout} {out.stderr[-3000:]}")
        problem = _jupyter_lab(venv, work)
        if problem:
            failures.append(problem)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print(f"check_install: {failure}", file=sys.stderr)
    print("check_install: " + ("FAILED" if failures else "ok: pip install netlab alone works"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
