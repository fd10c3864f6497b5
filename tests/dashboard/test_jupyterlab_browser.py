"""The widgets in JupyterLab itself (not only Voilà), in Debian's headless Chromium."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_dashboard_browser import ARGS, CHROMIUM, _free_port

from conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELL = (
    "import ipywidgets, netlab\n"
    "from netlab.cli import DEMO_PCAP\n"
    "from netlab.widgets import FlowTable, PacketDetail, PacketTable, RateSparkline, StreamView\n"
    "from netlab.widgets import ProtocolHierarchy\n"
    "df = netlab.read_pcap(DEMO_PCAP)\n"
    "tcp = df[df.proto == 'TCP'].iloc[0]\n"
    "view = StreamView(lambda: netlab.stream(df, tcp))\n"
    "view.follow()\n"
    "detail = PacketDetail(netlab.dissect(tcp))\n"
    "ipywidgets.VBox([RateSparkline(df), PacketTable(df), detail, view, FlowTable(df),\n"
    "                 ProtocolHierarchy(df)])"
)


@contextlib.contextmanager
def _jupyterlab(root: Path, notebook: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A JupyterLab server on loopback serving `root`; yields the URL that opens `notebook`."""
    port, token = _free_port(), secrets.token_hex(8)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            # a workspace of its own: the user's last one would reopen a notebook this root
            # lacks, and the "File Load Error" dialog would take the clicks
            f"--LabApp.workspaces_dir={root / '.workspaces'}",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/status?token={token}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        yield f"{url}/lab/tree/{notebook}?token={token}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def lab(tmp_path):
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "c1",
                "metadata": {},
                "outputs": [],
                "source": CELL.splitlines(keepends=True),
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "chart.ipynb").write_text(json.dumps(notebook))
    with _jupyterlab(tmp_path, "chart.ipynb") as url:
        yield url


def _opened(browser, url: str):  # type: ignore[no-untyped-def]
    """A page with the notebook at `url` open and its kernel idle; its console messages."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(url, timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_selector(
        ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000, state="attached"
    )
    return page, console


def _run_until(page, cell: int, shown) -> None:  # type: ignore[no-untyped-def]
    """Run the code cell numbered `cell` (from 0) until `shown` (a locator) is in its
    output. A keystroke sent while the kernel is still connecting is lost (seen on a loaded
    machine): try again, within a deadline."""
    deadline = time.monotonic() + 240
    dialogs: list[str] = []
    while True:
        try:
            dialog = page.locator(".jp-Dialog")
            if dialog.count():  # a dialog takes the clicks: say which, if the deadline comes
                dialogs.append(dialog.first.inner_text())
                page.keyboard.press("Escape")
            page.locator(".jp-CodeCell .cm-content").nth(cell).click(timeout=30_000)
            page.keyboard.press("Shift+Enter")
            shown.first.wait_for(state="attached", timeout=30_000)
            return
        except Exception as exc:  # noqa: BLE001 - playwright's TimeoutError: try again
            if time.monotonic() > deadline:
                raise AssertionError(f"the cell's output never came; dialogs: {dialogs}") from exc


def test_the_rate_chart_detail_and_stream_render_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page, console = _opened(browser, lab)
            ticks = page.locator(".netlab-sparkline .axis .tick text")
            _run_until(page, 0, ticks)
            page.wait_for_function(
                "() => document.querySelectorAll('.netlab-sparkline path.line').length > 0",
                timeout=60_000,
            )
            texts = ticks.all_text_contents()
            assert texts and all(t.strip() for t in texts), texts  # labelled axes
            assert any(t.count(":") == 2 for t in texts), texts  # x in HH:MM:SS packet time
            assert not [m for m in console if "invalid format" in m], console
            # packet detail and the followed stream render in JupyterLab too
            page.locator(".netlab-detail-tree select option").first.wait_for(state="attached")
            assert (
                page.locator(".netlab-detail-tree select option").first.inner_text() == "Ethernet"
            )
            page.locator(".netlab-stream-client").first.wait_for(state="attached")
            assert page.locator(".netlab-stream-server").count() >= 1
            # the grids (anywidget) render in JupyterLab: the newest frame first; a click
            # on a flow follows its stream
            grid = page.locator(".netlab-table-grid .netlab-grid-row")
            grid.first.wait_for(state="visible", timeout=60_000)
            assert grid.first.get_attribute("data-key") == "18926"
            flow = page.locator(".netlab-flows-grid .netlab-grid-row").first
            flow.scroll_into_view_if_needed()
            flow.click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.netlab-flows .netlab-stream-title')]"
                ".some(e => e.textContent.includes('<Stream'))",
                timeout=60_000,
            )
            assert page.locator(".netlab-hierarchy tr[data-path]").count() >= 5
            assert not [m for m in console if "Error displaying widget" in m], console
            assert page.locator("text=Error displaying widget").count() == 0
        finally:
            browser.close()


def test_the_dashboard_notebook_runs_in_jupyterlab_with_every_tab(tmp_path):
    # notebooks/dashboard.ipynb as a user opens it in JupyterLab, on the demo capture
    from playwright.sync_api import expect, sync_playwright

    from netlab.cli import DEMO_PCAP

    shutil.copy(ROOT / "notebooks" / "dashboard.ipynb", tmp_path / "dashboard.ipynb")
    env = {"NETLAB_SOURCE": str(DEMO_PCAP), "NETLAB_SENSOR": "lab-sensor"}
    with _jupyterlab(tmp_path, "dashboard.ipynb", env) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page, console = _opened(browser, url)
            rows = page.locator(".netlab-table-grid .netlab-grid-row")
            _run_until(page, 0, page.locator(".netlab-dashboard"))  # the one code cell
            rows.first.wait_for(state="visible", timeout=120_000)
            tabs = page.locator(".netlab-dashboard .netlab-tabs")
            for title, shown, text in (
                ("Flows", ".netlab-flows-grid .netlab-grid-row", ""),
                ("Talkers", ".netlab-talkers-hosts .netlab-grid-row", ""),
                ("Protocols", ".netlab-hierarchy", "Ethernet"),
                ("Alerts", ".netlab-alert-list", ""),
                ("Sensors", ".netlab-sensors-grid .netlab-grid-row", "lab-sensor"),
                ("Packets", ".netlab-table-grid .netlab-grid-row", ""),
            ):
                tabs.locator(".lm-TabBar-tab", has_text=title).first.click()
                pane = page.locator(shown).first
                pane.wait_for(state="visible", timeout=60_000)
                if text:
                    expect(pane).to_contain_text(text, timeout=60_000)
            assert not [m for m in console if "Error displaying widget" in m], console
            assert page.locator("text=Error displaying widget").count() == 0
        finally:
            browser.close()
