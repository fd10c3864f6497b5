"""The netlab sidecar server: one capture, streamed to many dashboards and programs."""

from .app import create_app
from .run import ServerThread, serve

__all__ = ["ServerThread", "create_app", "serve"]
