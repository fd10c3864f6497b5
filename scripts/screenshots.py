#!/usr/bin/env python3
"""The README's screenshots: the dashboard `scripts/demo` serves, on the bundled demo capture
(NETLAB_SOURCE=demo), one per tab in the light theme and the Packets tab in the dark one.

  .venv/bin/python scripts/screenshots.py            # writes docs/dashboard-*.png
  .venv/bin/python scripts/screenshots.py --width 1920

Needs Debian's chromium (scripts/test installs it) and Playwright (the test extras).
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

from chromium import ARGS, CHROMIUM

from netlab.dashboard import voila as voila_app

DOCS = Path(__file__).resolve().parent.parent / "docs"
TABS = ("Packets", "Flows", "Talkers", "Protocols", "Alerts")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shoot(width: int, out: Path, settle: float) -> list[Path]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    process = voila_app.start("demo", port=port, idle=120, cull=120)
    written: list[Path] = []
    try:
        url = voila_app.wait_ready("127.0.0.1", port, process)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for theme in ("light", "dark"):
                # tall enough for the whole page: Voilà scrolls its own container, and what
                # lies below the window would come out blank
                page = browser.new_page(viewport={"width": width, "height": 2400})
                page.goto(f"{url}?theme={theme}", timeout=120_000)
                page.wait_for_selector(".netlab-table-grid .netlab-grid-row", timeout=120_000)
                time.sleep(settle)  # the IO graph fills and the detectors fire
                for tab in TABS if theme == "light" else TABS[:2]:
                    page.locator(".netlab-tabs .lm-TabBar-tab", has_text=tab).first.click()
                    if tab == "Packets":
                        page.locator(".netlab-table-grid .netlab-grid-row").nth(3).click()
                        page.locator(".netlab-detail-tree option").first.wait_for()
                    elif tab == "Flows":
                        page.locator(".netlab-flows-grid .netlab-grid-row").first.click()
                        page.locator(".netlab-flows .netlab-stream-client").first.wait_for()
                    time.sleep(1.5)
                    name = f"dashboard-{tab.lower()}" + ("-dark" if theme == "dark" else "")
                    path = out / f"{name}.png"
                    page.locator(".netlab-dashboard").screenshot(path=str(path))
                    written.append(path)
                page.goto("about:blank")
                page.close()
            browser.close()
    finally:
        voila_app.stop(process)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--out", type=Path, default=DOCS)
    parser.add_argument(
        "--settle",
        type=float,
        default=105.0,
        help="seconds before the first (the demo alerts at 70 and 100 s)",
    )
    args = parser.parse_args()
    for path in shoot(args.width, args.out, args.settle):
        print(path)


if __name__ == "__main__":
    main()
