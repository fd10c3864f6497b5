import subprocess
import sys

import netlab


def test_all_lists_exactly_the_public_names():
    public = {n for n in vars(netlab) if not n.startswith("_") and n not in ("annotations",)}
    modules = {n for n in public if type(getattr(netlab, n)).__name__ == "module"}
    assert set(netlab.__all__) - {"__version__"} == public - modules
    assert netlab.__version__


def test_core_imports_no_io_or_ui_libraries():
    code = (
        "import sys, netlab.core.decode, netlab.core.frame, netlab.core.schema, netlab.core.info;"
        "bad = [m for m in ('openai','ipywidgets','bqplot','fastapi','uvicorn','scapy')"
        " if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
