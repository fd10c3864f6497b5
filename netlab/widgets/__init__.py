"""ipywidgets + bqplot views of a capture, usable one by one or composed in a Dashboard."""

from .alerts import AlertBanner
from .controls import CaptureControls
from .dashboard import Dashboard, default_source
from .explain import ExplainPanel
from .refresher import Refresher, Update
from .sparkline import RateSparkline
from .table import PacketTable

__all__ = [
    "AlertBanner",
    "CaptureControls",
    "Dashboard",
    "ExplainPanel",
    "PacketTable",
    "RateSparkline",
    "Refresher",
    "Update",
    "default_source",
]
