"""Explaining packets and alerts through an OpenAI-compatible endpoint, or offline."""

from .client import make_async_client, make_client
from .explain import Explanation, explain, explain_alert, explain_async, explain_flow
from .policy import dissect

__all__ = [
    "Explanation",
    "dissect",
    "explain",
    "explain_alert",
    "explain_async",
    "explain_flow",
    "make_async_client",
    "make_client",
]
