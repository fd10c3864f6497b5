"""netlab: watch and understand live network traffic from Jupyter."""

from __future__ import annotations

from ._version import __version__
from .ai import Explanation, explain, explain_alert
from .archive import Archive, ArchiveWriter, open_archive
from .capture import Capture, CaptureStats, Recording
from .capture.archive_file import read_pcap
from .capture.subscription import Subscription
from .config import Settings
from .core.alerts import Alert, detect, make_alert
from .core.community_id import community_id
from .core.detectors import (
    FunctionDetector,
    NewTalkerDetector,
    PortScanDetector,
    RateDetector,
    SynFloodDetector,
)
from .core.dissection import Dissection
from .core.flow_table import flows
from .core.frame import RollingFrame
from .core.schema import COLUMNS, Column
from .core.stream import Stream
from .core.summary import conversations, protocol_hierarchy, protocol_mix, top_talkers
from .core.tcp_flags import BY_NAME as TCP_ANALYSIS_FLAGS
from .core.tcp_flags import tcp_analysis_names
from .data import demo_pcap
from .display_filter import DisplayFilter, compile_filter, filter
from .dissect import dissect
from .errors import (
    ArchiveError,
    CaptureError,
    CaptureFileError,
    CaptureFilterError,
    CapturePermissionError,
    ClosedError,
    DashboardError,
    DisplayFilterError,
    ExplainError,
    FilterError,
    InterfaceError,
    LibpcapMissing,
    NetlabError,
    NetlabWarning,
    ServerError,
    SettingsError,
)
from .export import PcapWriter, write_frame, write_pcap
from .follow import stream, streams
from .sources.base import Chunk, Source, SourceBase
from .sources.interfaces import capture_permission, interfaces, validate_bpf
from .sources.libpcap import Interface
from .sources.live import LiveSource
from .sources.pcapreader import iter_pcap
from .sources.replay import FileSource

__all__ = [
    "Alert",
    "Archive",
    "ArchiveError",
    "ArchiveWriter",
    "COLUMNS",
    "Capture",
    "CaptureError",
    "CaptureFileError",
    "CaptureFilterError",
    "CapturePermissionError",
    "CaptureStats",
    "Chunk",
    "ClosedError",
    "Column",
    "DashboardError",
    "DisplayFilter",
    "DisplayFilterError",
    "Dissection",
    "ExplainError",
    "Explanation",
    "FileSource",
    "FilterError",
    "FunctionDetector",
    "Interface",
    "InterfaceError",
    "LibpcapMissing",
    "LiveSource",
    "NetlabError",
    "NetlabWarning",
    "NewTalkerDetector",
    "PcapWriter",
    "PortScanDetector",
    "RateDetector",
    "Recording",
    "RollingFrame",
    "ServerError",
    "Settings",
    "SettingsError",
    "Source",
    "SourceBase",
    "Stream",
    "Subscription",
    "SynFloodDetector",
    "TCP_ANALYSIS_FLAGS",
    "__version__",
    "capture_permission",
    "community_id",
    "compile_filter",
    "conversations",
    "demo_pcap",
    "detect",
    "dissect",
    "explain",
    "explain_alert",
    "filter",
    "flows",
    "interfaces",
    "iter_pcap",
    "make_alert",
    "open_archive",
    "protocol_hierarchy",
    "protocol_mix",
    "read_pcap",
    "stream",
    "streams",
    "tcp_analysis_names",
    "top_talkers",
    "validate_bpf",
    "write_frame",
    "write_pcap",
]
