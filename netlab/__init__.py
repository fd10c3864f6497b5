"""netlab: watch and understand live network traffic from Jupyter."""

from __future__ import annotations

from .config import Settings
from .core.frame import RollingFrame
from .core.schema import COLUMNS, Column
from .errors import (
    CaptureError,
    CaptureFileError,
    CapturePermissionError,
    ExplainError,
    FilterError,
    InterfaceError,
    NetlabError,
    NetlabWarning,
    SettingsError,
)
from .sources.pcapreader import iter_pcap, read_pcap

__version__ = "0.1.0"

__all__ = [
    "COLUMNS",
    "CaptureError",
    "CaptureFileError",
    "CapturePermissionError",
    "Column",
    "ExplainError",
    "FilterError",
    "InterfaceError",
    "NetlabError",
    "NetlabWarning",
    "RollingFrame",
    "Settings",
    "SettingsError",
    "__version__",
    "iter_pcap",
    "read_pcap",
]
