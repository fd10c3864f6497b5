"""netlab's errors and warnings: a small tree whose members carry what the user needs to act."""

from __future__ import annotations


class NetlabError(Exception):
    """Base of every error netlab raises on purpose."""


class NetlabWarning(UserWarning):
    """Something was wrong with the input but netlab carried on (a cut-short capture file...)."""


class CaptureFileError(NetlabError):
    """A file is not a capture netlab can read at all."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SettingsError(NetlabError, ValueError):
    """A setting has a value outside its allowed range."""


class FilterError(NetlabError, ValueError):
    """An invalid filter: a capture filter (BPF) or a display filter."""

    expression: str
    message: str


class CaptureFilterError(FilterError):
    """A BPF capture filter that libpcap refuses; carries libpcap's own message."""

    def __init__(self, expression: str, message: str) -> None:
        super().__init__(f"invalid capture filter {expression!r}: {message}")
        self.expression = expression
        self.message = message


class DisplayFilterError(FilterError):
    """An invalid Wireshark display filter: what is wrong, and where (a caret under it)."""

    def __init__(self, expression: str, message: str, position: int, length: int = 1) -> None:
        self.expression = expression
        self.message = message
        self.position = position
        shown = expression if len(expression) <= 200 else _window(expression, position)
        offset = position if len(expression) <= 200 else min(position, 60)
        underline = " " * offset + "^" + "~" * (max(length, 1) - 1)
        super().__init__(f"{message}\n  {shown}\n  {underline}")


def _window(expression: str, position: int) -> str:
    """The part of a long filter around `position` (60 characters before it)."""
    start = max(0, position - 60)
    return expression[start : start + 200]


class CapturePermissionError(NetlabError, PermissionError):
    """Live capture needs rights this process does not have; the message says the fix."""


class InterfaceError(NetlabError, ValueError):
    """An interface that does not exist or cannot be opened."""


class CaptureError(NetlabError):
    """A capture source failed while running."""


class ExplainError(NetlabError):
    """Explaining a packet failed; the message says why in one line."""


class LibpcapMissing(CaptureError):
    """The libpcap shared library could not be loaded; the message says how to install it."""


class ClosedError(NetlabError, RuntimeError):
    """An object was started (or used) again after `close()`: make a new one."""


class ServerError(NetlabError):
    """The netlab server could not start or serve (the message says why)."""


class DashboardError(NetlabError):
    """The Voila dashboard process could not start or did not answer."""


class ArchiveError(NetlabError):
    """An archive could not be opened or queried (the message says why)."""
