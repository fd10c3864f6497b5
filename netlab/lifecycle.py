"""The one lifecycle rule of netlab's running objects (Capture, Subscription, Refresher,
RemoteSource, ServerThread, Dashboard).

An object runs once: `start()` starts it (and returns at once if it already runs); `close()`
ends it for good and is idempotent; a `start()` after `close()` raises ClosedError instead of
returning an object that silently does nothing. A `start()` that fails closes what it opened.
"""

from __future__ import annotations

import threading

from .errors import ClosedError


class Lifecycle:
    """new -> running -> closed, under a lock; says what a caller may do next."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._lock = threading.Lock()
        self.started = False
        self.closed = False

    def begin(self) -> bool:
        """Mark started: True the first time; False if already started; ClosedError after
        close()."""
        with self._lock:
            if self.closed:
                raise ClosedError(f"this {self._what} is closed; create a new one")
            if self.started:
                return False
            self.started = True
            return True

    def end(self) -> bool:
        """Mark closed: True the first time, False after (close() is idempotent)."""
        with self._lock:
            if self.closed:
                return False
            self.closed = True
            return True
