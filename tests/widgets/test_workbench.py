"""The dashboard's second edition without a browser: the grid's windowing, sorting and
selection; the flows, talkers, protocols and alerts panes against pandas on the same rows."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import netlab
from conftest import DATA
from netlab.archive import default_sensor
from netlab.core.summary import protocol_hierarchy, sensor_summary
from netlab.data import DEMO_PCAP
from netlab.widgets import Dashboard
from netlab.widgets.alert_list import AlertList, alert_rows
from netlab.widgets.flow_table import FlowTable
from netlab.widgets.grid import DataGrid, format_cells
from netlab.widgets.protocols import ProtocolHierarchy
from netlab.widgets.refresher import Update
from netlab.widgets.talkers import Talkers


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return netlab.read_pcap(DEMO_PCAP)


def _keys(grid: DataGrid) -> list[int]:
    return [row[0] for row in grid.window]


def test_the_grid_sends_only_the_rows_in_view_of_100k(demo):
    big = pd.concat([demo] * 6, ignore_index=True).iloc[:100_000]
    big["number"] = np.arange(1, len(big) + 1)
    grid = DataGrid(big, key="number", columns=["number", "src", "info"])
    grid.visible = 30
    assert grid.total == 100_000 and len(grid.window) == 31
    assert _keys(grid) == list(range(1, 32))
    grid.offset = 70_000  # scrolled: the window is those rows, formatted as cells
    assert _keys(grid) == list(range(70_001, 70_032)) and grid.window_offset == 70_000
    row = big.iloc[70_000]
    assert grid.window[0][2:] == [str(row["number"]), str(row["src"]), row["info"]]
    grid.offset = 10**9  # past the end: clamped
    assert grid.offset == 99_999 and _keys(grid) == [100_000]


def test_the_grid_sorts_as_pandas_does(demo):
    rows = demo.iloc[:3000]
    grid = DataGrid(rows, key="number", columns=["number", "src", "length", "sport", "ts"])
    grid.visible = 3000
    for column in ("length", "src", "sport", "ts"):
        for descending in (False, True):
            grid.sort_by, grid.descending = column, descending
            text = rows[column].astype(str) if column == "src" else rows[column]
            want = (
                rows.assign(_k=text)
                .sort_values("_k", ascending=not descending, kind="stable", na_position="last")[
                    "number"
                ]
                .tolist()
            )
            assert _keys(grid) == want, (column, descending)


def test_arrow_keys_move_the_selection_and_scroll_it_into_view(demo):
    grid = DataGrid(demo.iloc[:100], key="number", columns=["number"])
    grid.visible = 10
    grid.move(1)  # nothing selected: the first row
    assert grid.selected == 1
    grid.move(12)
    assert grid.selected == 13 and grid.offset == 3  # rows 4-13 in view: the last line
    grid.move(-10)
    assert grid.selected == 3 and grid.offset == 2
    grid.move(-50)
    assert grid.selected == 1 and grid.offset == 0
    grid.move(1000)
    assert grid.selected == 100 and grid.selected_row["number"] == 100
    grid._message(grid, {"move": -1}, [])  # what the browser sends for ArrowUp
    assert grid.selected == 99


def test_cells_show_times_of_day_and_missing_values_empty(demo):
    rows = demo.iloc[:3]
    cells = format_cells(rows, ["ts", "sport", "dns_qname"])
    assert cells[0][0] == rows["ts"].iloc[0].strftime("%H:%M:%S.%f")
    assert all(len(c) == 3 for c in cells)
    missing = rows["dns_qname"].isna().to_numpy()
    assert [c[2] == "" for c in cells] == missing.tolist()


def test_the_protocol_hierarchy_counts_as_pandas(demo):
    table = protocol_hierarchy(demo).set_index("path")
    # counted here independently, level by level
    ip = demo["ip_version"].map({4: "IPv4", 6: "IPv6"})
    assert table.loc["Ethernet", "packets"] == len(demo)
    assert table.loc["Ethernet", "bytes"] == int(demo["length"].sum())
    for name in ("IPv4", "IPv6"):
        rows = demo[ip == name]
        if len(rows):
            assert table.loc[f"Ethernet/{name}", "packets"] == len(rows)
    for proto, rows in demo[demo["ip_version"] == 4].groupby("proto", observed=True):
        assert table.loc[f"Ethernet/IPv4/{proto}", "packets"] == len(rows)
        assert table.loc[f"Ethernet/IPv4/{proto}", "bytes"] == int(rows["length"].sum())
    message = demo["dns_qname"].notna() | demo["summary"].astype(str).str.startswith(
        "Standard query"
    )
    dns = demo[(demo["proto"] == "UDP") & message]
    assert table.loc["Ethernet/IPv4/UDP/DNS", "packets"] == len(dns)
    arp = demo[demo["proto"] == "ARP"]
    assert table.loc["Ethernet/ARP", "packets"] == len(arp)
    # tree order: every row after its parent
    paths = list(table.index)
    for k, path in enumerate(paths):
        if "/" in path:
            assert paths.index(path.rsplit("/", 1)[0]) < k
    pane = ProtocolHierarchy(demo)
    assert pane.html.value.count("<tr data-path=") == len(table)
    assert "No packets yet" in ProtocolHierarchy().html.value


def test_the_talkers_pane_ranks_as_pandas(demo):
    pane = Talkers(demo, top=5)
    sent = demo.groupby(demo["src"].astype(str))["length"].sum()
    received = demo.groupby(demo["dst"].astype(str))["length"].sum()
    both = sent.add(received, fill_value=0).sort_values(ascending=False)
    assert pane.hosts.data["address"].tolist() == both.index[:5].tolist()
    assert pane.hosts.data["bytes"].tolist() == both.iloc[:5].astype(int).tolist()
    assert pane.pairs.total == 5 and pane.pairs.data["rank"].tolist() == [1, 2, 3, 4, 5]


def test_the_flow_table_lists_flows_and_follows_the_selected_one():
    df = netlab.read_pcap(DATA / "corpus" / "dpkt__http.pcap")
    pane = FlowTable(df)
    want = netlab.flows(df)
    assert pane.grid.total == len(want)
    assert set(pane.grid.data["flow"]) == set(want["flow"])
    top = pane.grid.window[0][0]  # busiest first
    busiest = want.assign(b=want.orig_bytes + want.resp_bytes).sort_values("b").flow.iloc[-1]
    assert top == int(busiest)
    pane.grid.selected = top
    assert f"flow {top}" in pane.stream_view.title.value
    assert "GET /download.html" in pane.stream_view.body.value


def test_the_alert_list_explains_the_selected_alert(demo):
    from netlab.core.detectors import PortScanDetector, RateDetector

    alerts = netlab.detect(demo, [RateDetector(), PortScanDetector()])
    assert alerts, "the demo has a spike and a scan"
    pane = AlertList(lambda: demo, netlab.Settings.load(ai_mode="offline"))
    pane.refresh(Update(demo.iloc[:0], None, alerts, demo.iloc[:0], 0))
    assert pane.grid.total == len(alerts) == len(alert_rows(alerts))
    newest = pane.grid.window[0][0]
    assert newest == len(alerts) - 1
    pane._start()  # nothing selected: said
    assert "No alert selected" in pane.output.value
    pane.grid.selected = newest
    pane._start()
    pane._thread.join(60)
    assert alerts[-1].message in pane.output.value and "offline" in pane.output.value


def test_the_dashboard_tabs_fill_when_opened():
    dash = Dashboard(netlab.Capture(DEMO_PCAP, speed=None), hz=10, idle_timeout=0)
    try:
        deadline = time.monotonic() + 60
        while dash.table.grid.total == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dash.table.grid.total > 0
        assert dash.flows.grid.total == 0  # not opened yet: not refreshed
        for index, pane in ((1, dash.flows.grid), (2, dash.talkers.hosts)):
            dash.tabs.selected_index = index
            while pane.total == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert pane.total > 0
        dash.tabs.selected_index = 3
        assert "Ethernet" in dash.protocols.html.value
        dash.tabs.selected_index = 5  # Sensors: this capture's own name, one row
        assert dash.sensors.grid.total == 1
        own = default_sensor(dash.capture.settings.sensor)
        assert dash.sensors.grid.data["sensor"].tolist() == [own]
        assert dash.refresher.errors == []
    finally:
        dash.close()


def test_the_io_graph_draws_a_line_per_display_filter(demo):
    from netlab.widgets import RateSparkline

    graph = RateSparkline(demo, seconds=10_000)
    graph.series_filter.value = "tcp.analysis.flags"  # as typed in the box, then Enter
    assert graph.series_error.value == "" and graph.series_filter.value == ""
    line = graph.filter_lines[0]
    matched = netlab.filter(demo, "tcp.analysis.flags")
    per_second = matched["ts"].dt.floor("s").value_counts()
    got = dict(zip(pd.to_datetime(line.x).astype("datetime64[s]"), line.y, strict=True))
    assert line.visible and sum(line.y) == len(matched) > 0
    for second, count in per_second.items():
        assert got[second.tz_localize(None)] == count
    graph.series_filter.value = "tcp.port == 99999"  # a mistake: said, the line stays
    assert "too big" in graph.series_error.value and line.visible
    graph.clear_series()
    assert not line.visible and graph.legend.value == ""


def test_the_io_graph_ticks_sit_inside_the_data_at_round_values(demo):
    from netlab.widgets import RateSparkline
    from netlab.widgets.sparkline import count_ticks, time_ticks

    graph = RateSparkline(demo)
    ticks = np.asarray(graph.x_axis.tick_values, dtype="datetime64[ms]")
    first, last = np.datetime64(graph.x_scale.min, "ms"), np.datetime64(graph.x_scale.max, "ms")
    assert len(ticks) >= 3 and ticks[0] >= first and ticks[-1] <= last
    assert (ticks.astype(np.int64) % 1000 == 0).all()  # whole seconds
    counts = np.asarray(graph.y_axis.tick_values)
    assert counts[0] == 0 and counts[-1] <= graph.y_scale.max and (counts % 1 == 0).all()
    one = np.datetime64("2026-01-01T00:00:00.000")
    assert time_ticks(one - np.timedelta64(500, "ms"), one + np.timedelta64(3, "s"))[0] == one
    assert count_ticks(1306).tolist() == [0, 500, 1000] and count_ticks(0.4).tolist() == [0, 1]


def test_a_silence_in_the_io_graph_is_drawn_as_zero_not_bridged(demo):
    from netlab.widgets import RateSparkline

    first = demo["ts"].iloc[0].floor("s")
    rows = pd.concat(
        [
            demo[demo["ts"] < first + pd.Timedelta(seconds=5)],
            demo[demo["ts"] >= first + pd.Timedelta(seconds=15)].iloc[:300],
        ]
    )
    graph = RateSparkline(rows)
    x = pd.to_datetime(graph.line.x).astype("datetime64[s]")
    y = np.asarray(graph.line.y)
    silent = (x >= (first + pd.Timedelta(seconds=5)).tz_localize(None)) & (
        x < (first + pd.Timedelta(seconds=15)).tz_localize(None)
    )
    assert silent.sum() == 10 and (y[silent] == 0).all() and (y[~silent] > 0).all()
    assert (np.diff(x.astype(np.int64)) == 1).all()  # one point a second, none left out


def test_a_flow_cut_in_parts_shows_its_newest_part():
    df = netlab.read_pcap(DATA / "corpus" / "dpkt__http.pcap")
    parts = netlab.flows(df, idle_timeout=0.5)  # a quiet half second cuts a flow
    cut = parts[parts["part"] > 0]
    assert len(cut), "the capture has a pause longer than the timeout"
    flow = int(cut["flow"].iloc[0])
    older = parts[(parts["flow"] == flow) & (parts["part"] == 0)]
    newer = parts[(parts["flow"] == flow) & (parts["part"] == parts["part"].max())]
    pane = FlowTable()
    pane.show(newer, [older])
    shown = pane.grid.data[pane.grid.data["flow"] == flow]
    assert len(shown) == 1 and shown["status"].iloc[0] == "active"
    assert shown["part"].iloc[0] == newer["part"].iloc[0]


def test_a_row_selected_after_newer_rows_pushed_it_away_comes_back_into_view(demo):
    grid = DataGrid(demo.iloc[:20], key="number", columns=["number"], newest_first=True)
    grid.visible = 5
    clicked = grid.window[2][0]  # what the browser showed when the person clicked
    grid.data = demo.iloc[:120]  # 100 newer rows reached the kernel before the click did
    grid.selected = clicked
    assert clicked in [row[0] for row in grid.window]
    grid.data = demo.iloc[:200]  # and from then on the view holds it
    assert clicked in [row[0] for row in grid.window]


def test_sensors_side_by_side_match_pandas(demo):
    # two sensors that saw different parts of the demo capture
    a, b = demo.iloc[:3000].copy(), demo.iloc[3000:4000].copy()
    a["sensor"], b["sensor"] = "north", "south"
    both = pd.concat([a, b], ignore_index=True)
    both["sensor"] = both["sensor"].astype("category")
    got = sensor_summary(both).set_index("sensor")
    assert got.index.tolist() == ["north", "south"]
    for name, part in (("north", a), ("south", b)):
        row = got.loc[name]
        assert row["packets"] == len(part) and row["bytes"] == part["length"].sum()
        assert row["flows"] == part["flow"].nunique()
        hosts = set(part["src"].dropna().astype(str)) | set(part["dst"].dropna().astype(str))
        assert row["hosts"] == len(hosts)
        assert row["tcp_trouble"] == (part["tcp_analysis"] != 0).sum()
        span = (part["ts"].max() - part["ts"].min()).total_seconds()
        assert row["packets/s"] == round(len(part) / span, 1)
    assert sensor_summary(demo)["sensor"].tolist() == ["-"]  # read_pcap's rows name none
    assert sensor_summary(demo.iloc[:0]).empty


def test_a_live_flow_table_shows_the_busiest_active_flows_and_says_so():
    cap = netlab.Capture(netlab.demo_pcap("flows"), speed=None)
    with cap:
        assert cap.wait(60)
        pane = FlowTable(busiest=3)
        pane.watch(cap)
        pane.refresh(None)  # type: ignore[arg-type]
        active = cap.flows.snapshot()
        assert len(active) > 3
        shown = pane.grid.data[pane.grid.data["status"] == "active"]
        top = (active["orig_bytes"] + active["resp_bytes"]).nlargest(3).min()
        assert len(shown) == 3 and (shown["bytes"] >= top).all()
        assert f"the 3 busiest of {len(active):,}" in pane.summary.value
        pane.close()
