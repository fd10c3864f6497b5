"""ipywidgets + bqplot views of a capture, usable one by one or composed in a Dashboard."""

from .alert_list import AlertList
from .alerts import AlertBanner
from .controls import CaptureControls
from .dashboard import Dashboard, default_source
from .detail import PacketDetail
from .explain import ExplainPanel
from .flow_table import FlowTable
from .grid import DataGrid
from .protocols import ProtocolHierarchy
from .refresher import Refresher, Update
from .sensors import Sensors
from .sparkline import RateSparkline
from .stream_view import StreamView
from .table import PacketTable
from .talkers import Talkers

__all__ = [
    "AlertBanner",
    "AlertList",
    "CaptureControls",
    "Dashboard",
    "DataGrid",
    "ExplainPanel",
    "FlowTable",
    "PacketDetail",
    "PacketTable",
    "ProtocolHierarchy",
    "RateSparkline",
    "Refresher",
    "Sensors",
    "StreamView",
    "Talkers",
    "Update",
    "default_source",
]
