"""Widget logic without a browser: each widget alone on a Capture or a DataFrame, the picker,
the rate chart's axes, the banner, the explain panel's answer."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import netlab
from conftest import DATA
from netlab.data import DEMO_PCAP
from netlab.widgets import Dashboard, ExplainPanel, PacketTable, RateSparkline
from netlab.widgets.refresher import frame_update


def _until(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(condition())


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return netlab.read_pcap(DEMO_PCAP)


def test_each_widget_alone_on_a_capture_stays_live():
    cap = netlab.Capture(DEMO_PCAP, speed=None)
    table, spark = PacketTable(cap, hz=10), RateSparkline(cap, hz=10)
    try:
        assert cap.running or cap.wait(60), cap.stats
        # (a refresh stores the rows first, then gives them to the grid: wait for both)
        assert _until(lambda: table.grid.total > 0 and len(spark.line.x) > 0), (
            cap.stats,
            len(table.rows),
            table.refresher.errors if table.refresher else None,
            spark.refresher.errors if spark.refresher else None,
        )
        assert "packets/s" in spark.label.value, spark.label.value
    finally:
        table.close()
        spark.close()
        cap.close()


def test_alerts_and_controls_alone_on_a_capture_stay_live():
    from netlab.widgets import AlertBanner, CaptureControls

    cap = netlab.Capture(DEMO_PCAP, speed=None)
    banner, controls = AlertBanner(cap, hz=10), CaptureControls(cap, hz=10)
    try:
        assert cap.wait(60)
        # the demo's rate spike and port scan reach the banner; the status line counts rows
        assert _until(lambda: sum(s.layout.display != "none" for s in banner._slots) == 2)
        assert _until(lambda: "18,926 packets" in controls.status.value)
    finally:
        banner.close()
        controls.close()
        cap.close()


def test_each_widget_alone_on_a_dataframe(demo):
    table = PacketTable(demo.iloc[:50])
    assert len(table.rows) == 50 and table.grid.total == 50
    # the browser gets the rows in view, newest first, not the 50
    assert [r[0] for r in table.grid.window] == demo["number"].iloc[:50].tolist()[::-1][
        : table.grid.visible + 1
    ]
    spark = RateSparkline(demo)
    assert len(spark.line.x) > 0 and spark.refresher is None


def test_rate_chart_axes_are_in_packet_time_from_zero(demo):
    spark = RateSparkline(demo)  # captured on 2026-01-01, long before "now"
    times = pd.to_datetime(demo["ts"]).dt.tz_localize(None)
    assert pd.Timestamp(spark.x_scale.min) >= times.min().floor("s")
    assert pd.Timestamp(spark.x_scale.max) <= times.max().ceil("s")
    assert spark.y_scale.min == 0 and spark.y_scale.max >= float(np.max(spark.line.y))
    assert len(spark.line.x) == len(spark.line.y) and (np.asarray(spark.line.y) >= 0).all()
    # explicit d3 formats (bqplot's derived default rendered ".undefinedg" in JupyterLab)
    assert spark.x_axis.tick_format == "%H:%M:%S" and spark.y_axis.tick_format == ",d"


def test_the_selection_follows_the_packet_not_the_position(demo):
    table = PacketTable(max_rows=5, keep=100)
    table.grid.visible = 5  # as the browser reports for 5 rows
    table.refresh(frame_update(demo.iloc[:20]))
    number = table.grid.window[2][0]  # a person clicks the third line
    table.grid.selected = number
    assert table.selected == number and table.selected_row["number"] == number
    for stop in (22, 24, 40):  # rows arrive above it: the view moves with the packet
        table.refresh(frame_update(demo.iloc[max(stop - 200, 20) : stop]))
        assert table.selected == number and table.selected_row["number"] == number
        assert [r[0] for r in table.grid.window].index(number) == 2  # same line on screen
    table.refresh(frame_update(demo.iloc[40:3000]))  # it leaves the kept rows
    assert table.selected == number and table.selected_row["number"] == number
    table.grid.selected = None
    table.grid.offset = 0  # back at the top with nothing selected: the newest rows show
    table.refresh(frame_update(demo.iloc[3000:3010]))
    assert table.grid.window[0][0] == demo["number"].iloc[3009]


def test_the_explain_answer_names_the_frame(demo):
    row = demo.iloc[33]
    panel = ExplainPanel(
        lambda: row, lambda: None, settings=netlab.Settings.load(ai_mode="offline")
    )
    panel._run(panel._explain_packet)
    assert f"Frame {row['number']}:" in panel.output.value


def test_dashboard_banner_names_the_source_of_a_capture():
    dash = Dashboard(netlab.Capture(DEMO_PCAP, speed=None), hz=5)
    try:
        banner = dash.banner.value
        assert "file demo.pcap" in banner
    finally:
        dash.close()


def test_the_table_takes_a_display_filter_and_shows_mistakes_in_place(demo):
    table = PacketTable(demo.iloc[:2000], max_rows=2000)
    expression = 'tcp.flags.syn == 1 || dns.qry.name contains "example"'
    table.display_filter.value = expression
    want = netlab.filter(demo.iloc[:2000], expression)["number"].tolist()
    assert want and table.filtered()["number"].tolist() == want
    assert table.filter_error.value == ""
    table.display_filter.value = "tcp.port == 99999"  # a mistake: said, the last filter stays
    assert "too big for a 16-bit field" in table.filter_error.value
    assert "^" in table.filter_error.value and "<script" not in table.filter_error.value
    assert table.filtered()["number"].tolist() == want
    table.display_filter.value = ""
    assert len(table.filtered()) == 2000 and table.filter_error.value == ""
    table.display_filter.value = '"<script>alert(1)</script>'  # escaped, never markup
    assert "<script>" not in table.filter_error.value


def test_packet_detail_marks_the_picked_fields_bytes():
    from netlab.widgets import PacketDetail

    df = netlab.read_pcap(DATA / "corpus" / "dpkt__http.pcap")
    detail = PacketDetail()
    detail.show_row(df.iloc[3])
    labels = [label for label, _ in detail.tree.options]
    assert labels[0] == "Ethernet" and "    src = 145.254.160.237" in labels
    assert "netlab-detail-mark" not in detail.hex.value
    detail.pick("ip.src")
    assert detail.hex.value.count('<mark class="netlab-detail-mark">') == 8  # 4 hex, 4 text
    assert "91</mark>" in detail.hex.value
    gone = df.iloc[0].copy()
    gone.attrs = {}
    detail.show_row(gone)  # no bytes: said in place
    assert "do not say where their packets are" in detail.hex.value


def test_stream_view_colours_each_side_and_lists_http():
    from netlab.widgets import StreamView

    df = netlab.read_pcap(DATA / "corpus" / "dpkt__http.pcap")
    view = StreamView(lambda: netlab.stream(df, 0))
    view.follow()
    assert 'class="netlab-stream-client"' in view.body.value
    assert 'class="netlab-stream-server"' in view.body.value
    assert "GET /download.html" in view.body.value and "netlab-http-table" in view.http.value
    view.mode.value = "Hex"
    assert "00000000  47 45 54 20" in view.body.value
    broken = StreamView(lambda: netlab.stream(df, 99))
    broken.follow()
    assert "flow 99 has no packets" in broken.title.value


def test_the_dashboard_shows_the_selected_packet_and_follows_its_flow():
    dash = Dashboard(netlab.Capture(DEMO_PCAP, speed=None), hz=5)
    try:
        assert _until(lambda: not dash.table.rows.empty and dash.table.rows.proto.eq("TCP").any())
        shown = dash.table.rows[dash.table.rows.proto.eq("TCP")]
        tcp = shown.iloc[-1]
        dash.table.selected = int(tcp["number"])  # as picking it in the list does
        assert any("TCP" == label for label, _ in dash.detail.tree.options)
        dash.stream_view.button.click()
        assert f"flow {int(tcp['flow'])}" in dash.stream_view.title.value
    finally:
        dash.close()


def test_the_table_forgets_addresses_its_rows_no_longer_show(demo):
    # a stream of new addresses: the kept rows' categories stay bounded, values intact
    table = PacketTable(max_rows=5, keep=100)
    rows = demo.iloc[:100].copy()
    for k in range(60):
        part = rows.copy()
        part["src"] = pd.Categorical([f"10.{k}.{i // 250}.{i % 250 + 1}" for i in range(100)])
        part.index = pd.RangeIndex(k * 100 + 1, k * 100 + 101)
        table.refresh(frame_update(part))
        assert len(table.rows["src"].cat.categories) == 100  # only what the rows show
    assert table.rows["src"].astype(str).tolist() == [f"10.59.0.{i + 1}" for i in range(100)]
    assert table.rows["number"].tolist() == demo["number"].iloc[:100].tolist()
