"""Platform glue: interfaces, BPF validation, capture rights."""

from __future__ import annotations

from . import libpcap
from .libpcap import Interface
from .live import LiveSource, permission_fix

__all__ = ["Interface", "capture_permission", "interfaces", "permission_fix", "validate_bpf"]


def interfaces() -> list[Interface]:
    """Every interface libpcap can capture on (name, description, addresses, up, loopback)."""
    return libpcap.find_all_devices()


def validate_bpf(expression: str, linktype: int = 1, snaplen: int = 262_144) -> int:
    """Compile a capture filter; return its length in BPF instructions or raise FilterError."""
    return libpcap.BpfProgram(expression, linktype, snaplen).instructions


def capture_permission(interface: str = "lo") -> tuple[bool, str]:
    """Whether this process may capture live, and if not, the message with the fix."""
    from ..errors import CapturePermissionError, NetlabError

    source = LiveSource(interface, "")
    try:
        source.open()
        return True, f"can capture on {interface}"
    except CapturePermissionError as exc:
        return False, str(exc)
    except NetlabError as exc:
        return False, f"cannot check on {interface}: {exc}"
    finally:
        source.close()
