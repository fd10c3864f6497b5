"""Markdown to HTML that no packet- or model-controlled text can turn into live markup.

Explanations quote packet fields (an HTTP Host, a DNS name) and model answers: a backtick in a
crafted name closed the code span, and `![x](http://...)` or `[x](javascript:...)` became an
image the browser fetched at once and a link that ran when clicked. So the Markdown is rendered
(text escaped first), then only an allow-list of formatting tags is kept, with no attributes:
no links, images, scripts, styles or event handlers can come out, whatever the input.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

import markdown

ALLOWED = frozenset(
    "p br hr strong em b i code pre ul ol li blockquote h1 h2 h3 h4 h5 h6 table thead tbody "
    "tr th td".split()
)
VOID = frozenset({"br", "hr"})
DROP_CONTENT = frozenset({"script", "style"})  # their text is not shown either


class _AllowList(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROP_CONTENT:
            self._skipping += 1
        elif tag in ALLOWED and not self._skipping:
            self.out.append(f"<{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID and not self._skipping:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in DROP_CONTENT:
            self._skipping = max(0, self._skipping - 1)
        elif tag in ALLOWED and tag not in VOID and not self._skipping:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.out.append(html.escape(data, quote=False))


def safe_markdown(text: str) -> str:
    """`text` rendered as Markdown, holding formatting tags only (no link, image or script)."""
    rendered = markdown.markdown(html.escape(text, quote=False))
    parser = _AllowList()
    parser.feed(rendered)
    parser.close()
    return "".join(parser.out)
