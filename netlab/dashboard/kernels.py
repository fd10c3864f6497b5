"""The kernel manager `netlab dashboard` gives Voilà: at most `max_kernels` pages at once.

Each page view starts a kernel (~300 MB for a few minutes): without a bound, ten GETs from
anyone who can reach the port held 3.2 GB. Past the bound a page answers 503 until a kernel
is culled. (Loaded by Voilà's process only.)
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Int


class LimitedKernelManager(AsyncMappingKernelManager):
    """AsyncMappingKernelManager that refuses a kernel past `max_kernels`."""

    max_kernels = Int(8, help="Kernels (dashboard pages) running at once").tag(config=True)

    async def start_kernel(self, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
        if kwargs.get("kernel_id") is None and len(self.list_kernel_ids()) >= self.max_kernels:
            raise web.HTTPError(
                503,
                f"{self.max_kernels} dashboard pages are open already "
                "(NETLAB_DASHBOARD_MAX_KERNELS); close one or try again in a few minutes",
            )
        kernel_id: str = await super().start_kernel(*args, **kwargs)
        return kernel_id
