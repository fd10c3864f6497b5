"""Recording: the frames of a running capture written to a pcap/pcapng file, as dumpcap -w."""

from __future__ import annotations

import os
from collections.abc import Callable

from ..core.chunk import Chunk
from ..export import PcapWriter


class Recording:
    """Frames of a capture going to a pcap/pcapng file (`Capture.record`): `frames` written so
    far; `close()` stops and closes the file (idempotent); it also ends with the capture."""

    def __init__(
        self, path: str | os.PathLike[str], on_close: Callable[[Recording], object]
    ) -> None:
        self._on_close = on_close  # the capture stops feeding it
        self._writer = PcapWriter(path)
        self.path = self._writer.path
        self.closed = False

    @property
    def frames(self) -> int:
        """Frames written so far."""
        return self._writer.frames

    def write(self, chunk: Chunk) -> None:
        """Write the frames of a raw chunk (the capture's decoder calls this)."""
        self._writer.write(chunk)

    def close(self) -> None:
        """Stop recording and close the file; idempotent."""
        if self.closed:
            return
        self.closed = True
        self._on_close(self)
        self._writer.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "recording"
        return f"<netlab.Recording {self.path} {state} frames={self.frames}>"
