"""`read_pcap(path, archive=DIR)`: a capture file of any size into an archive.

A file too big for memory is read as a capture at full speed (the live flow table, bounded
memory), its rows, ended flows and alerts written to the archive; the Archive is returned.
"""

from __future__ import annotations

import os
from typing import overload

import pandas as pd

from ..archive import Archive, open_archive
from ..config import Settings
from ..errors import NetlabError
from ..sources import pcapreader
from ..sources.pcapreader import check_regular_file
from .capture import Capture


@overload
def read_pcap(path: str | os.PathLike[str], *, limit: int | None = None) -> pd.DataFrame: ...


@overload
def read_pcap(
    path: str | os.PathLike[str],
    *,
    limit: int | None = None,
    archive: str | os.PathLike[str],
    settings: Settings | None = None,
) -> Archive: ...


def read_pcap(
    path: str | os.PathLike[str],
    *,
    limit: int | None = None,
    archive: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame | Archive:
    """Read a pcap or pcapng file (told apart by magic number) into one typed DataFrame.

    Truncated or corrupt files give every complete frame and a NetlabWarning; a file that is
    not a capture at all raises CaptureFileError. With `archive=DIR`, the file is written
    into that archive instead (its packets, flows and alerts, under the sensor
    NETLAB_SENSOR names), however big it is, and the archive is returned.
    """
    if archive is None:
        return pcapreader.read_pcap(path, limit=limit)
    if limit is not None:
        raise NetlabError("read_pcap: limit= and archive= do not go together")
    check_regular_file(os.fspath(path))
    with Capture(path, speed=None, archive=archive, settings=settings) as cap:
        cap.wait()
        problems = cap.stats.problems
    if problems:
        raise NetlabError(f"{path}: archiving failed: {'; '.join(problems)}")
    return open_archive(archive)
