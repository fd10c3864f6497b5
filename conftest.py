"""Root pytest configuration: notebooks run against the bundled demo capture, not live traffic."""

import os
from pathlib import Path

os.environ.setdefault("NETLAB_SOURCE", str(Path(__file__).parent / "netlab" / "data" / "demo.pcap"))
os.environ.setdefault("NETLAB_AI_MODE", "offline")
