"""The Voilà dashboard in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import synth
from chromium import ARGS, CHROMIUM

from netlab.archive import default_sensor
from netlab.dashboard import voila as voila_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
IDLE, CULL = 4, 4  # seconds: a closed page's capture stops, then its kernel is culled
GRID = ".netlab-table-grid"  # the packets grid
ROWS = f"{GRID} .netlab-grid-rows"
PACKETS = ".netlab-tab-packets"

if not os.path.exists(CHROMIUM):
    pytest.skip(
        "Debian's chromium is not installed (scripts/test installs it as root)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def burst_pcap(tmp_path_factory) -> Path:
    """8 s at 40 packets/s, a 2 s burst at 1,500 packets/s, 10 s quiet again (looped)."""
    rng = np.random.default_rng(1)
    times = np.sort(np.concatenate([rng.uniform(0, 20, 800), rng.uniform(8, 10, 3000)]))
    frames = [
        synth.ether(
            synth.ipv4(
                f"10.0.0.{1 + k % 20}",
                "10.0.1.1",
                17,
                synth.udp(
                    5000 + k % 50, 53 if k % 3 else 9999, synth.dns_query(f"h{k % 30}.example", k)
                ),
            )
        )
        for k in range(len(times))
    ]
    path = tmp_path_factory.mktemp("dash") / "burst.pcap"
    synth.write_pcap(path, frames, times=(1_767_225_600 + times).tolist())
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def voila(burst_pcap, tmp_path_factory):
    port = _free_port()
    log = open(tmp_path_factory.mktemp("log") / "voila.log", "wb")  # noqa: SIM115
    env = {
        "NETLAB_AI_MODE": "offline",
        "NETLAB_DETECTORS": "rate",
        "NETLAB_ANOMALY_MIN_SAMPLES": "3",
        "NETLAB_ANOMALY_WINDOW": "10",
    }
    process = voila_app.start(str(burst_pcap), port=port, idle=IDLE, cull=CULL, env=env, log=log)
    try:
        url = voila_app.wait_ready("127.0.0.1", port, process)
        yield url, process
    finally:
        voila_app.stop(process)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _open(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.netlab_console = []  # type: ignore[attr-defined]
    page.netlab_elsewhere = []  # type: ignore[attr-defined]
    page.on("console", lambda m: page.netlab_console.append(m.text))
    local = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")

    def request(r) -> None:
        if not r.url.startswith(local):
            page.netlab_elsewhere.append(r.url)

    page.on("request", request)
    started = time.monotonic()
    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector(".netlab-dashboard", state="visible", timeout=120_000)
    page.wait_for_selector(f"{GRID} .netlab-grid-row", timeout=60_000)
    print(f"first render in {time.monotonic() - started:.1f} s")  # a figure, not a test
    return page


def _close(page) -> None:
    page.goto("about:blank")  # fires unload, as a person leaving would
    page.close()


def _kernels(voila_pid: int) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == voila_pid and b"ipykernel" in cmd:
            out.append(int(pid))
    return out


def test_dashboard_lives_in_the_browser(voila, browser, tmp_path):
    url, _ = voila
    page = _open(browser, url)
    try:
        from playwright.sync_api import expect

        for cls in (
            "netlab-dashboard",
            "netlab-table",
            "netlab-sparkline",
            "netlab-alerts",
            "netlab-controls",
            "netlab-explain",
        ):
            expect(page.locator(f".{cls}").first).to_be_visible()
        assert page.netlab_elsewhere == [], "the page fetched from off this machine"
        table0 = page.locator(ROWS).inner_text()
        # bqplot may replace the path element while it redraws: read it by selector each time
        path0 = page.wait_for_function(
            "sel => document.querySelector(sel)?.getAttribute('d')",
            arg=".netlab-sparkline path.line",
            timeout=60_000,
        ).json_value()
        # rows change and the sparkline moves (polled: later on a loaded machine)
        expect(page.locator(ROWS)).not_to_have_text(table0, timeout=60_000)
        page.wait_for_function(
            "([sel, d]) => document.querySelector(sel)?.getAttribute('d') !== d",
            arg=[".netlab-sparkline path.line", path0],
            timeout=60_000,
        )
        ticks = page.locator(".netlab-sparkline .axis .tick text").all_text_contents()
        assert ticks and all(t.strip() for t in ticks), ticks  # labelled axes
        # the capture's own times (it starts 2026-01-01 00:00:00 UTC and lasts 20 s), not now
        times = [t for t in ticks if t.count(":") == 2]
        assert times and all(t.startswith("00:00:") for t in times), ticks
        assert not [t for t in ticks if t.strip().startswith(("-", "\u2212"))], ticks  # y >= 0
        assert not [m for m in page.netlab_console if "invalid format" in m]

        # the burst (8 s into the replay) becomes a visible alert
        alert = page.locator(".netlab-alerts .netlab-alert").first
        alert.wait_for(state="visible", timeout=40_000)
        assert "spike" in alert.inner_text()

        # an invalid filter: the error in place, rows keep arriving
        page.locator(".netlab-bpf input").fill("udp and and")
        page.locator("button.netlab-apply").click()
        expect(page.locator(".netlab-filter-error")).to_contain_text("syntax error")
        before = page.locator(ROWS).inner_text()
        expect(page.locator(ROWS)).not_to_have_text(before, timeout=60_000)

        # a display filter: a mistake is said under its box, a valid one narrows the rows
        box = page.locator(".netlab-display-filter input")
        box.fill("tcp.port == 99999")
        box.press("Enter")
        expect(page.locator(".netlab-display-filter-error")).to_contain_text(
            "too big for a 16-bit field"
        )
        before = page.locator(ROWS).inner_text()  # the error stays, rows keep arriving
        expect(page.locator(ROWS)).not_to_have_text(before, timeout=60_000)
        expect(page.locator(".netlab-display-filter-error")).to_contain_text("too big")
        box.fill("udp")
        box.press("Enter")
        expect(page.locator(".netlab-display-filter-error")).to_have_text("")
        page.wait_for_function(
            """() => {
                const cells = [...document.querySelectorAll(
                    '.netlab-table-grid .netlab-grid-row .netlab-grid-td:nth-child(5)')];
                return cells.length > 0 && cells.every(td => td.textContent.trim() === 'UDP');
            }""",
            timeout=60_000,
        )
        box.fill("")
        box.press("Enter")

        # explain the selected packet, offline: the answer names the highlighted frame
        page.locator(f"{GRID} .netlab-grid-row").nth(2).click()
        page.wait_for_timeout(1500)  # rows keep arriving meanwhile: the selection stays
        number = _selected(page)
        page.locator("button.netlab-explain-packet").click()
        output = page.locator(".netlab-explain-output")
        expect(output).to_contain_text("UDP", timeout=60_000)
        expect(output).to_contain_text(f"Frame {number}:")

        # the selected packet's layers; picking a field marks its bytes; its flow followed
        page.locator(f"{GRID} .netlab-grid-row").nth(1).click()
        tree = page.locator(".netlab-detail-tree select")
        expect(tree.locator("option").first).to_have_text("Ethernet", timeout=60_000)
        # the second "src = " line is the IP source (the first is Ethernet's); the widget
        # writes its indent and spaces as no-break spaces, so pick it by position
        at = tree.evaluate(
            "s => [...s.options].map((o, i) => [o.text.replace(/\\s/g, ' '), i])"
            ".filter(([t]) => t.includes('src = '))[1][1]"
        )
        tree.select_option(index=at)
        expect(page.locator(".netlab-detail-hex mark.netlab-detail-mark").first).to_be_visible()
        assert page.locator(".netlab-detail-hex mark.netlab-detail-mark").count() == 8  # IPv4
        page.locator(f"{PACKETS} button.netlab-follow").click()
        title = page.locator(f"{PACKETS} .netlab-stream-title")
        expect(title).to_contain_text(re.compile(r"<Stream (TCP|UDP) flow"), timeout=60_000)
        page.locator(f"{PACKETS} .netlab-stream-mode button", has_text="Hex").click()
        expect(page.locator(f"{PACKETS} .netlab-stream-body")).to_contain_text("00000000  ")

        # the arrow keys move the selection, as in Wireshark's packet list
        chosen = _selected(page)
        page.locator(f"{GRID} .netlab-grid-body").press("ArrowDown")
        page.wait_for_function(
            "([sel, k]) => document.querySelector(sel)?.dataset.key !== k",
            arg=[f"{GRID} .netlab-grid-selected", chosen],
            timeout=60_000,
        )

        # the other tabs: flows (a click follows its stream), talkers, protocols, alerts
        _tab(page, "Flows")
        flow_rows = page.locator(".netlab-flows-grid .netlab-grid-row")
        flow_rows.first.wait_for(state="visible", timeout=60_000)
        flow_rows.first.click()
        expect(page.locator(".netlab-flows .netlab-stream-title")).to_contain_text(
            "<Stream", timeout=60_000
        )
        _tab(page, "Talkers")
        expect(page.locator(".netlab-talkers-hosts .netlab-grid-row").first).to_contain_text(
            "10.0.", timeout=60_000
        )
        _tab(page, "Protocols")
        expect(page.locator(".netlab-hierarchy")).to_contain_text("Ethernet", timeout=60_000)
        expect(page.locator(".netlab-hierarchy")).to_contain_text("DNS")
        _tab(page, "Alerts")
        alert_rows = page.locator(".netlab-alert-grid .netlab-grid-row")
        alert_rows.first.wait_for(state="visible", timeout=60_000)
        alert_rows.first.click()
        page.locator("button.netlab-explain-selected-alert").click()
        expect(page.locator(".netlab-alert-explanation")).to_contain_text("offline", timeout=60_000)
        _tab(page, "Sensors")  # one capture: one row, named as the dashboard's machine
        expect(page.locator(".netlab-sensors-grid .netlab-grid-row").first).to_contain_text(
            default_sensor(os.environ.get("NETLAB_SENSOR", "")), timeout=60_000
        )
        _tab(page, "Packets")

        # still alive after several idle periods: the heartbeat keeps it running
        page.wait_for_timeout((IDLE + 2) * 1000)
        # (a row is selected, so the grid holds its view: the status line counts the packets)
        before = page.locator(".netlab-status").inner_text()
        expect(page.locator(".netlab-status")).not_to_have_text(before, timeout=60_000)
        page.locator(".netlab-dashboard").screenshot(path=str(tmp_path / "light.png"))
    finally:
        _close(page)


def _luminance(page, selector: str) -> float:
    rgb = page.evaluate(
        "sel => getComputedStyle(document.querySelector(sel)).backgroundColor", selector
    )
    r, g, b = (int(v) for v in re.findall(r"\d+", rgb)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def test_the_dashboard_follows_the_light_and_dark_themes(voila, browser, tmp_path):
    url, _ = voila
    for theme, dark in (("light", False), ("dark", True)):
        page = _open(browser, f"{url}?theme={theme}")
        try:
            for selector in (".netlab-grid", ".netlab-header"):
                shade = _luminance(page, selector)
                assert (shade < 0.35) if dark else (shade > 0.65), (theme, selector, shade)
            text = page.evaluate(
                "sel => getComputedStyle(document.querySelector(sel)).color",
                ".netlab-tone-udp .netlab-grid-td",
            )
            shade = sum(int(v) for v in re.findall(r"\d+", text)[:3]) / (3 * 255)
            assert (shade > 0.5) if dark else (shade < 0.5), (theme, text)  # readable
            page.locator(".netlab-dashboard").screenshot(path=str(tmp_path / f"{theme}.png"))
        finally:
            _close(page)


def _selected(page) -> str:
    """The frame number of the selected row of the packets grid (shown highlighted)."""
    page.wait_for_function(
        "sel => document.querySelector(sel)?.dataset.selected",
        arg=f"{GRID} .netlab-grid",
        timeout=60_000,
    )
    selected = page.locator(f"{GRID} .netlab-grid-selected")
    selected.wait_for(state="attached", timeout=60_000)
    key = str(selected.get_attribute("data-key"))
    assert key == page.locator(f"{GRID} .netlab-grid").get_attribute("data-selected")
    return key


def _tab(page, title: str) -> None:
    page.locator(".netlab-tabs .lm-TabBar-tab", has_text=title).first.click()


def test_closed_pages_leave_no_kernel_behind(voila, browser):
    url, process = voila
    for _ in range(10):
        _close(_open(browser, url))
    deadline = time.monotonic() + IDLE + CULL + 30
    while _kernels(process.pid) and time.monotonic() < deadline:
        time.sleep(1)
    assert _kernels(process.pid) == [], "kernels of closed pages are still running"


def test_packet_text_cannot_inject_markup_into_the_page(browser, tmp_path):
    # A crafted Host and DNS name (a backtick closes the code span) made a live <img> the
    # browser fetched at once and a javascript: link. The explanation must show them as text.
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Pixel(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    pixel = ThreadingHTTPServer(("127.0.0.1", 0), Pixel)
    pixel.daemon_threads = False
    threading.Thread(target=pixel.serve_forever, name="test-pixel").start()
    bait = f"![p](http://127.0.0.1:{pixel.server_address[1]}/pwn.png)"
    host = f"a`{bait}`[x](javascript:alert(1))`.example"
    frames = []
    for k in range(200):
        if k % 2:
            payload = synth.udp(5000 + k, 53, synth.dns_query(f"q`{bait}`.example", k))
            frames.append(synth.ether(synth.ipv4("10.0.0.5", "10.0.0.53", 17, payload)))
        else:
            payload = synth.tcp(40000 + k, 80, 0x18, synth.http_get(host))
            frames.append(synth.ether(synth.ipv4("10.0.0.5", "10.0.0.80", 6, payload)))
    path = tmp_path / "inject.pcap"
    synth.write_pcap(path, frames, step=0.05)
    port = _free_port()
    env = {"NETLAB_AI_MODE": "offline", "NETLAB_DETECTORS": ""}
    process = voila_app.start(str(path), port=port, idle=60, cull=60, env=env)
    try:
        url = voila_app.wait_ready("127.0.0.1", port, process)
        page = _open(browser, url)
        try:
            from playwright.sync_api import expect

            output = page.locator(".netlab-explain-output")
            for index in (0, 1):  # one HTTP and one DNS row
                page.locator(f"{GRID} .netlab-grid-row").nth(index).click()
                picked = _selected(page)
                page.locator("button.netlab-explain-packet").click()
                expect(output).to_contain_text(f"Frame {picked}:", timeout=60_000)
                expect(output).to_contain_text("offline")  # the answer has rendered
                assert output.locator("img, a, script").count() == 0
            page.wait_for_timeout(1000)
            assert hits == [], f"the page fetched {hits}"
        finally:
            _close(page)
    finally:
        voila_app.stop(process)
        pixel.shutdown()
        pixel.server_close()
