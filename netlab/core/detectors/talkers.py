"""NewTalkerDetector: an address not seen for a while."""

from __future__ import annotations

import pandas as pd

from ..alerts import NS, Alert


class NewTalkerDetector:
    """An address not seen in the last `memory` seconds (after `learning` seconds of quiet)."""

    def __init__(
        self,
        memory: float = 3600.0,
        learning: float = 300.0,
        max_addresses: int = 100_000,
        name: str = "newtalker",
    ) -> None:
        self.name = name
        self.memory_ns, self.learning_ns = int(memory * NS), int(learning * NS)
        self.max_addresses = max_addresses
        self._seen: dict[str, int] = {}
        self._start: int | None = None

    def update(self, batch: pd.DataFrame) -> list[Alert]:
        """Alert once per address that appears after the learning period."""
        rows = batch[batch["src"].notna().to_numpy()]
        if rows.empty:
            return []
        firsts = rows.groupby("src", observed=True)["ts"].min()
        alerts = []
        for addr, first in firsts.items():
            t = int(first.value)
            if self._start is None:
                self._start = t
            key = str(addr)
            last = self._seen.get(key)
            if (last is None or t - last > self.memory_ns) and t - self._start >= self.learning_ns:
                alerts.append(
                    Alert(
                        time=first,
                        detector=self.name,
                        metric="new_address",
                        value=1.0,
                        severity="info",
                        message=f"New talker {key}: not seen in the last "
                        f"{self.memory_ns // NS // 60} minutes",
                        window_start=first,
                        window_end=first,
                        context={"address": key},
                    )
                )
        newest = rows["ts"].array.asi8.max()
        for addr, last in rows.groupby("src", observed=True)["ts"].max().items():
            self._seen[str(addr)] = int(last.value)
        if len(self._seen) > self.max_addresses:
            cutoff = newest - self.memory_ns
            self._seen = {a: t for a, t in self._seen.items() if t >= cutoff}
        return alerts
