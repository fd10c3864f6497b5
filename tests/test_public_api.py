import pytest

import netlab


def test_all_lists_exactly_the_public_names():
    public = {n for n in vars(netlab) if not n.startswith("_") and n not in ("annotations",)}
    modules = {n for n in public if type(getattr(netlab, n)).__name__ == "module"}
    assert set(netlab.__all__) - {"__version__"} == public - modules
    assert netlab.__all__ == sorted(netlab.__all__), "keep __all__ sorted"
    assert len(set(netlab.__all__)) == len(netlab.__all__)
    assert netlab.__version__


def test_every_error_a_user_sees_is_a_netlab_error_from_errors_py():
    import inspect

    from netlab import errors

    raised = [
        obj
        for name in netlab.__all__
        if inspect.isclass(obj := getattr(netlab, name))
        and issubclass(obj, Exception)
        and not issubclass(obj, Warning)  # NetlabWarning: warned, never raised
    ]
    assert raised and all(issubclass(e, netlab.NetlabError) for e in raised)
    assert all(e.__module__ == "netlab.errors" for e in raised)
    defined = {
        obj
        for obj in vars(errors).values()
        if inspect.isclass(obj) and issubclass(obj, netlab.NetlabError)
    }
    assert defined == set(raised), "every error in errors.py is public, and only those"


def test_explain_and_the_demo_capture_are_top_level():
    assert netlab.explain is netlab.ai.explain and netlab.explain_alert is netlab.ai.explain_alert
    assert netlab.demo_pcap().name == "demo.pcap" and netlab.demo_pcap().exists()
    assert netlab.demo_pcap("flows").exists()
    with pytest.raises(ValueError, match="mixed"):
        netlab.demo_pcap("nope")


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
