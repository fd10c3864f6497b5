"""Explanations render Markdown with formatting tags only: nothing packet- or model-controlled
becomes a link, an image, a script or an attribute."""

from __future__ import annotations

import pytest

from netlab.core.safe_html import safe_markdown

ATTACKS = [
    "![x](http://127.0.0.1:9/pixel.png)",
    "[click me](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "`a` `![x](http://127.0.0.1:9/p.png)`",  # a backtick in a name closes the code span
    "x.example`![p](http://127.0.0.1:9/h.png)`",
    "<a href='http://127.0.0.1:9/'>x</a>",
    "[ref][1]\n\n[1]: http://127.0.0.1:9/",
    "<http://127.0.0.1:9/auto>",
    '<div style="background:url(http://127.0.0.1:9/s)">x</div>',
    "&lt;img src=x&gt; &#x3C;img src=x&#x3E;",
]


def _tags(markup: str) -> list[tuple[str, list]]:
    from html.parser import HTMLParser

    found: list[tuple[str, list]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(markup)
    return found


@pytest.mark.parametrize("text", ATTACKS)
def test_no_link_image_script_or_attribute_comes_out(text):
    out = safe_markdown(f"The host is {text} and more.")
    tags = _tags(out)
    assert all(attrs == [] for _, attrs in tags), (text, out)
    assert {t for t, _ in tags} <= {"p", "code", "strong", "em"}, (text, out)


def test_formatting_survives():
    out = safe_markdown("**TCP** SYN to `443`:\n\n- one\n- two\n\n# Title")
    assert "<strong>TCP</strong>" in out and "<code>443</code>" in out
    assert "<li>one</li>" in out and "<h1>Title</h1>" in out
