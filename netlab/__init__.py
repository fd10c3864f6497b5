"""netlab: watch and understand live network traffic from Jupyter."""

from __future__ import annotations

from .capture import Capture, CaptureStats, Recording
from .config import Settings
from .core.anomaly import Alert, RateDetector, detect, make_alert
from .core.detectors import (
    FunctionDetector,
    NewTalkerDetector,
    PortScanDetector,
    SynFloodDetector,
)
from .core.frame import RollingFrame
from .core.schema import COLUMNS, Column
from .core.summary import conversations, protocol_mix, top_talkers
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
from .sources.base import Chunk, Source
from .sources.libpcap import Interface
from .sources.live import LiveSource
from .sources.pcapreader import iter_pcap, read_pcap
from .sources.replay import FileSource
from .sources.writer import PcapWriter, write_frame, write_pcap
from .subscription import Subscription
from .system import capture_permission, interfaces, validate_bpf

__version__ = "0.1.0"

__all__ = [
    "Alert",
    "COLUMNS",
    "Capture",
    "CaptureError",
    "CaptureFileError",
    "CapturePermissionError",
    "CaptureStats",
    "Chunk",
    "Column",
    "ExplainError",
    "FileSource",
    "FilterError",
    "FunctionDetector",
    "Interface",
    "InterfaceError",
    "LiveSource",
    "NetlabError",
    "NetlabWarning",
    "NewTalkerDetector",
    "PcapWriter",
    "PortScanDetector",
    "RateDetector",
    "Recording",
    "RollingFrame",
    "Settings",
    "SettingsError",
    "Source",
    "Subscription",
    "SynFloodDetector",
    "__version__",
    "capture_permission",
    "conversations",
    "detect",
    "interfaces",
    "iter_pcap",
    "make_alert",
    "protocol_mix",
    "read_pcap",
    "top_talkers",
    "validate_bpf",
    "write_frame",
    "write_pcap",
]
