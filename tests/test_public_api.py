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


def test_dashboard_notebook_is_the_generated_one():
    import json

    from conftest import ROOT
    from netlab.dashboard.notebook import DASHBOARD_CELLS, notebook_json

    # Sources and cell types only: JupyterLab autosaves outputs, ids and metadata into it.
    def cells(nb: dict) -> list[tuple[str, str]]:
        return [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]

    on_disk = json.loads((ROOT / "notebooks" / "dashboard.ipynb").read_text())
    assert cells(on_disk) == cells(notebook_json(DASHBOARD_CELLS)), (
        "regenerate with netlab.widgets.notebooks"
    )
    executed = json.loads(json.dumps(on_disk))  # as JupyterLab saves it after a run
    for c in executed["cells"]:
        c.update(id="x", metadata={"scrolled": True})
        if c["cell_type"] == "code":
            c.update(execution_count=3, outputs=[{"output_type": "stream", "text": "x"}])
    assert cells(executed) == cells(notebook_json(DASHBOARD_CELLS))
