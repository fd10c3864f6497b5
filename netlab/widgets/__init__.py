"""ipywidgets + bqplot views of a capture, usable one by one or composed in a Dashboard."""

from .alerts import AlertBanner
from .controls import CaptureControls
from .dashboard import Dashboard, default_source
from .detail import PacketDetail
from .explain import ExplainPanel
from .refresher import Refresher, Update
from .sparkline import RateSparkline
from .stream_view import StreamView
from .table import PacketTable

__all__ = [
    "AlertBanner",
    "CaptureControls",
    "Dashboard",
    "ExplainPanel",
    "PacketDetail",
    "PacketTable",
    "RateSparkline",
    "Refresher",
    "StreamView",
    "Update",
    "default_source",
]
