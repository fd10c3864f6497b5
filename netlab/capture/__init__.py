"""A capture: a source read by background threads into a RollingFrame, with subscriptions,
detectors and recordings (the I/O room over `netlab.sources`)."""

from .capture import Capture, CaptureStats, Recording
from .subscription import Subscription

__all__ = ["Capture", "CaptureStats", "Recording", "Subscription"]
