"""The widgets in JupyterLab itself (not only Voilà), in Debian's headless Chromium."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time

import httpx
import pytest
from test_dashboard_browser import ARGS, CHROMIUM, _free_port

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
            f"--ServerApp.root_dir={tmp_path}",
            "--LabApp.news_url=",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
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
        yield f"{url}/lab/tree/chart.ipynb?token={token}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_rate_chart_detail_and_stream_render_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            page.goto(lab, timeout=120_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']",
                timeout=120_000,
                state="attached",
            )
            ticks = page.locator(".netlab-sparkline .axis .tick text")
            # A keystroke sent while the kernel is still connecting is lost (seen on a loaded
            # machine): run the cell again until its output appears, within a deadline.
            deadline = time.monotonic() + 240
            while True:
                page.locator(".jp-Cell .cm-content").first.click()
                page.keyboard.press("Shift+Enter")
                try:
                    ticks.first.wait_for(state="attached", timeout=30_000)
                    break
                except Exception:  # noqa: BLE001 - playwright's TimeoutError: try again
                    if time.monotonic() > deadline:
                        raise
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
