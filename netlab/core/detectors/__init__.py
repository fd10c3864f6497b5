"""Detectors: each a pure function of the packets' own timestamps (see `core.alerts`)."""

from .function import FunctionDetector, WindowFunction
from .rate import RateDetector
from .scan import PortScanDetector, SynFloodDetector
from .talkers import NewTalkerDetector

__all__ = [
    "FunctionDetector",
    "NewTalkerDetector",
    "PortScanDetector",
    "RateDetector",
    "SynFloodDetector",
    "WindowFunction",
]
