"""stream.http(): HTTP/1.x messages of real exchanges, against tshark's HTTP fields."""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netlab
from conftest import CORPUS, DATA
from netlab.core.stream import stream_of

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
EXCHANGES = DATA / "http" / "exchanges.pcap"
BODY = b"".join(b"line %05d of the netlab test body\n" % i for i in range(400))  # the server's


def _find(tree: object, key: str) -> object:
    """The first value of `key` anywhere in tshark's JSON tree of one message."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        for value in tree.values():
            found = _find(value, key)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for value in tree:
            found = _find(value, key)
            if found is not None:
                return found
    return None


def _tshark_messages(path: Path, stream: int) -> list[tuple]:
    """tshark's HTTP messages of one TCP stream: (method, uri, status, content type, body as
    tshark decoded it, from its raw bytes)."""
    args = ["tshark", "-r", str(path), "-Y", f"http && tcp.stream == {stream}", "-T", "json", "-x"]
    packets = json.loads(subprocess.run(args, capture_output=True, check=True).stdout)
    rows = []
    for packet in packets:
        http = packet["_source"]["layers"]["http"]
        for m in http if isinstance(http, list) else [http]:
            raw = _find(m, "http.file_data_raw")
            body = bytes.fromhex(raw[0]) if isinstance(raw, list) else b""
            status = _find(m, "http.response.code")
            rows.append(
                (
                    _find(m, "http.request.method"),
                    _find(m, "http.request.uri"),
                    int(status) if status is not None else None,
                    _find(m, "http.content_type"),
                    body,
                )
            )
    return rows


def _ours(s: netlab.Stream) -> list[tuple]:
    h = s.http()
    return [
        (
            r.method if isinstance(r.method, str) else None,
            r.uri if isinstance(r.uri, str) else None,
            None if pd.isna(r.status) else int(r.status),
            r.content_type if isinstance(r.content_type, str) else None,
            r.body,
        )
        for r in h.itertuples()
    ]


@needs_tshark
@pytest.mark.parametrize(
    "path,flow",
    [(EXCHANGES, 0), (EXCHANGES, 1), (EXCHANGES, 2)]
    + [(CORPUS / name, 0) for name in ("dpkt__http.pcap", "pcpp__one_http_stream_rst.pcap")]
    + [(CORPUS / "pcpp__four_ipv6_http_streams.pcap", n) for n in range(4)],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_messages_are_tsharks(path, flow):
    """Kept-alive, chunked, gzip, 100-continue, 404, 204 (recorded) and the corpus's HTTP."""
    df = netlab.read_pcap(path)
    s = netlab.stream(df, flow)
    expected = _tshark_messages(path, flow)  # flow numbers are tcp.stream: only TCP flows here
    ours = _ours(s)
    # each side's messages in order (tshark lists a message at its last segment, netlab at
    # its first: a request whose body waits for 100 Continue comes after it in tshark's list)
    for side in (lambda m: m[0] is not None, lambda m: m[0] is None):
        assert [m for m in ours if side(m)] == [m for m in expected if side(m)]
    assert len(ours) == len(expected)


def test_the_recorded_messages_say_what_the_server_sent():
    df = netlab.read_pcap(EXCHANGES)
    first, gz, upload, piped = (netlab.stream(df, n).http() for n in range(4))
    assert first.status.tolist()[1::2] == [200, 200, 404, 204]
    assert first.body[3] == BODY and first.body_length[3] > len(BODY)  # chunked: 5 chunks
    assert gz.content_encoding[1] == "gzip" and gz.body[1] == BODY
    assert gz.body_length[1] < len(BODY)  # sent compressed
    assert upload.status.tolist()[1:] == [100, 201] and len(upload.body[0]) == 4 * len(BODY)
    assert upload.request.tolist()[1:] == [0, 0]  # 100 Continue is interim: both answer it
    # pipelined: four requests in one segment, answered in order (tshark 4.0 loses the three
    # after the HEAD response, see tests/data/http/README.md)
    requests = piped[piped.direction == "client"]
    assert requests.method.tolist() == ["GET", "HEAD", "GET", "GET"]
    assert len(set(requests.frame)) == 1
    responses = piped[piped.direction == "server"]
    assert responses.status.tolist() == [200, 200, 204, 200]
    assert responses.request.tolist() == requests.index.tolist()
    assert [len(b) for b in responses.body] == [len(BODY), 0, 0, len(BODY)]
    assert responses.body.iloc[3] == BODY and responses.content_encoding.iloc[3] == "deflate"
    assert piped.note.isna().all() and first.note.isna().all()


def _http(client: bytes, server: bytes = b""):
    return stream_of(client, server).http()


def test_broken_messages_end_with_what_was_read_and_a_note():
    cut = _http(b"GET / HTTP/1.1\r\nHost: a\r\n", b"")
    assert cut.method.tolist() == ["GET"] and "headers end with the stream" in cut.note[0]
    short = _http(b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert short.body[1] == b"abc" and "3 of 10 bytes" in short.note[1]
    chunks = _http(
        b"GET / HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcZZ\r\n",
    )
    assert chunks.body[1].startswith(b"abc") and "not hexadecimal" in chunks.note[1]
    bad_gzip = _http(
        b"GET / HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
    )
    assert bad_gzip.body[1] == b"nope" and "could not be decompressed" in bad_gzip.note[1]
    after = _http(b"GET / HTTP/1.1\r\n\r\n\x16\x03\x01garbage")
    assert "then 10 bytes that are not HTTP" in after.note[0]
    assert _http(b"\x16\x03\x01\x02\x00 a TLS hello", b"\x16\x03\x03").empty
    raw_deflate = zlib.compressobj(wbits=-15)
    body = raw_deflate.compress(b"hello") + raw_deflate.flush()
    resp = b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n" % len(body)
    assert _http(b"GET / HTTP/1.1\r\n\r\n", resp + body).body[1] == b"hello"
    until_close = _http(b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\nall of it")
    assert until_close.body[1] == b"all of it"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            [
                b"GET / HTTP/1.1\r\n",
                b"HTTP/1.1 200 OK\r\n",
                b"Content-Length: 5\r\n",
                b"Transfer-Encoding: chunked\r\n",
                b"Content-Encoding: gzip\r\n",
                b"\r\n",
                b"5\r\n",
                b"0\r\n",
                b"zz\r\n",
                b"abcde",
                b"\x00\xff",
                b":",
            ]
        ),
        max_size=30,
    ),
    st.binary(max_size=40),
)
def test_any_bytes_give_messages_or_none_never_an_error(parts, noise):
    data = b"".join(parts) + noise
    for client, server in (
        (data, data),
        (b"GET / HTTP/1.1\r\n\r\n" + data, b"HTTP/1.1 200 OK\r\n" + data),
    ):
        table = _http(client, server)
        assert set(table.direction) <= {"client", "server"}


def test_after_bytes_that_are_not_http_the_next_message_is_found():
    # as after a gap: a body shorter than its Content-Length ran into the next request
    client = b"POST /a HTTP/1.1\r\nContent-Length: 20\r\n\r\n0123456789GET /b HTTP/1.1\r\n\r\n"
    client += b"junk\r\nGET /c HTTP/1.1\r\n\r\n"
    table = _http(client)
    assert table.method.tolist() == ["POST", "GET"] and table.uri.tolist() == ["/a", "/c"]
    assert "bytes that are not HTTP/1.x" in table.note[0]
