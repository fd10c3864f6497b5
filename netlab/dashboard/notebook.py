"""The dashboard notebook, defined in code so `netlab dashboard` works from any install."""

from __future__ import annotations

import json
from pathlib import Path

DASHBOARD_CELLS = [
    "# netlab dashboard\n"
    "Live packets, rates, alerts and explanations. The source comes from `NETLAB_SOURCE` "
    "(an interface, a capture file or a `ws://` netlab server); without it: live capture if "
    "this kernel may capture, else the bundled demo capture replayed in a loop.",
    "import gc\n"
    "\n"
    "from netlab.widgets import Dashboard\n"
    "\n"
    "dashboard = Dashboard.for_source()\n"
    "# This kernel serves only the dashboard: keep what start-up made out of the garbage\n"
    "# collector's full passes, which otherwise stall the page for ~50 ms at a time.\n"
    "gc.collect()\n"
    "gc.freeze()\n"
    "dashboard",
]


def notebook_json(cells: list[str]) -> dict[str, object]:
    """An nbformat 4 notebook: the first cell Markdown, the others code."""
    out: list[dict[str, object]] = []
    for k, text in enumerate(cells):
        lines = text.splitlines(keepends=True)
        if k == 0:
            out.append(
                {"cell_type": "markdown", "id": f"cell-{k}", "metadata": {}, "source": lines}
            )
        else:
            out.append(
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"cell-{k}",
                    "metadata": {},
                    "outputs": [],
                    "source": lines,
                }
            )
    return {
        "cells": out,
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    }


def write_dashboard(path: Path) -> Path:
    """Write the dashboard notebook to `path`."""
    path.write_text(json.dumps(notebook_json(DASHBOARD_CELLS), indent=1) + "\n")
    return path
