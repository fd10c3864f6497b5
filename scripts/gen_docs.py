#!/usr/bin/env python3
"""Regenerate the README's column and settings tables and .env.example from the code."""

from __future__ import annotations

import re
from pathlib import Path

from netlab.config import env_example, settings_markdown
from netlab.core.schema import markdown_table

ROOT = Path(__file__).resolve().parent.parent


def render_readme(text: str) -> str:
    """The README with its generated sections replaced by the current tables."""
    for name, table in (("columns", markdown_table()), ("settings", settings_markdown())):
        pattern = re.compile(rf"<!-- {name}:begin -->\n.*?<!-- {name}:end -->", re.S)
        text = pattern.sub(
            lambda _m, n=name, t=table: f"<!-- {n}:begin -->\n{t}\n<!-- {n}:end -->", text
        )
    return text


if __name__ == "__main__":
    readme = ROOT / "README.md"
    readme.write_text(render_readme(readme.read_text()))
    (ROOT / ".env.example").write_text(env_example())
    print("README.md and .env.example regenerated")
