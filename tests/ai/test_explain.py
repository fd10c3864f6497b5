"""Explaining packets and alerts with the real openai client against a local endpoint."""

from __future__ import annotations

import asyncio
import json
import struct

import pytest
from fake_openai import completion

import netlab
from conftest import CORPUS
from netlab import ai
from netlab.ai import policy
from netlab.data import DEMO_PCAP


def _settings(fake, **kw):
    base = {
        "ai_mode": "openai",
        "openai_api_key": "sk-test",
        "openai_base_url": fake.url,
        "ai_timeout": 2.0,
        "ai_max_retries": 2,
        "ai_model": "test-model",
    }
    return netlab.Settings.load(env_file=None, **{**base, **kw})


def _frames(name: str, count: int) -> list[bytes]:
    raw = (CORPUS / name).read_bytes()
    out, off = [], 24
    for _ in range(count):
        (cap,) = struct.unpack_from("<I", raw, off + 8)
        out.append(raw[off + 16 : off + 16 + cap])
        off += 16 + cap
    return out


HTTP_GET = _frames("dpkt__http.pcap", 4)[3]


def test_success_sends_headers_only_by_default(fake_openai):
    fake_openai.replies.append(("json", 200, completion("An HTTP GET for www.ethereal.com.")))
    result = ai.explain(HTTP_GET, settings=_settings(fake_openai))
    assert result.source == "openai" and result.model == "test-model"
    assert result.text == "An HTTP GET for www.ethereal.com." and result.messages
    request = fake_openai.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    sent = json.dumps(request["body"])
    assert "www.ethereal.com" in sent and "145.254.160.237" in sent  # header fields go
    assert "Mozilla" not in sent and "GET /download.html" not in sent  # payload does not
    assert "Payload bytes are not included" in sent


def test_a_row_of_a_capture_is_dissected_from_its_bytes_without_payload(fake_openai):
    df = netlab.read_pcap(CORPUS / "dpkt__http.pcap")
    row = df[df["http_host"].notna()].iloc[0]  # a filtered frame's row still finds its bytes
    fake_openai.replies.append(("json", 200, completion("ok")))
    ai.explain(row, settings=_settings(fake_openai))
    sent = json.dumps(fake_openai.requests[0]["body"])
    assert "###[ Ethernet ]###" in sent and "###[ TCP ]###" in sent  # scapy's dissection
    assert "Mozilla" not in sent and "GET /download.html" not in sent  # still no payload
    fake_openai.replies.append(("json", 200, completion("ok")))
    ai.explain(row.to_dict(), settings=_settings(fake_openai))  # a plain dict: fields only
    assert "###[ Ethernet ]###" not in json.dumps(fake_openai.requests[1]["body"])


def test_payload_and_redaction_settings(fake_openai):
    settings = _settings(fake_openai, ai_send_payload=True, ai_redact_addresses=True)
    ai.explain(HTTP_GET, settings=settings)
    sent = json.dumps(fake_openai.requests[0]["body"])
    assert b"Mozilla".hex() in sent  # payload bytes, as asked
    assert "145.254.160.237" not in sent and "<public-ipv4-1>" in sent
    assert "fe:ff:20:00:01:00" not in sent  # MAC addresses too


def test_bad_key_is_one_clear_line(fake_openai):
    fake_openai.replies.append(("json", 401, {"error": {"message": "Incorrect API key"}}))
    with pytest.raises(netlab.ExplainError, match=r"refused the API key \(HTTP 401\)") as err:
        ai.explain(HTTP_GET, settings=_settings(fake_openai))
    assert "\n" not in str(err.value) and "OPENAI_API_KEY" in str(err.value)


def test_rate_limit_is_retried_then_succeeds(fake_openai):
    fake_openai.replies.extend(
        [
            ("json", 429, {"error": {"message": "slow down"}}),
            ("json", 200, completion("after a retry")),
        ]
    )
    result = ai.explain(HTTP_GET, settings=_settings(fake_openai))
    assert result.text == "after a retry" and len(fake_openai.requests) == 2


def test_rate_limit_that_persists_is_reported(fake_openai):
    fake_openai.replies.extend([("json", 429, {"error": {"message": "slow"}})] * 5)
    with pytest.raises(netlab.ExplainError, match="rate limiting"):
        ai.explain(HTTP_GET, settings=_settings(fake_openai, ai_max_retries=1))
    assert len(fake_openai.requests) == 2


def test_server_error(fake_openai):
    fake_openai.replies.extend([("json", 500, {"error": {"message": "boom"}})] * 3)
    with pytest.raises(netlab.ExplainError, match="HTTP 500"):
        ai.explain(HTTP_GET, settings=_settings(fake_openai))


def test_slow_answer_fails_within_the_timeout_plus_a_second(fake_openai):
    fake_openai.replies.append(("slow", 10, completion("too late")))
    # the reply would come after 10 s and succeed: the error proves the 1 s limit ended it
    with pytest.raises(netlab.ExplainError, match=r"did not answer within 1 s"):
        ai.explain(HTTP_GET, settings=_settings(fake_openai, ai_timeout=1.0))


def test_malformed_body(fake_openai):
    fake_openai.replies.append(("raw", 200, b"this is not json"))
    with pytest.raises(netlab.ExplainError, match="could not read|malformed"):
        ai.explain(HTTP_GET, settings=_settings(fake_openai))
    fake_openai.replies.append(("json", 200, {"choices": []}))
    with pytest.raises(netlab.ExplainError, match="empty or malformed"):
        ai.explain(HTTP_GET, settings=_settings(fake_openai))


def test_connection_refused_is_clear_and_quick():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    settings = netlab.Settings.load(
        env_file=None,
        ai_mode="openai",
        openai_api_key="k",
        openai_base_url=f"http://127.0.0.1:{port}/v1",
        ai_timeout=2,
    )
    with pytest.raises(netlab.ExplainError, match="cannot reach"):
        ai.explain(HTTP_GET, settings=settings)


def test_auto_mode_falls_back_to_offline_with_a_note(fake_openai):
    fake_openai.replies.append(("json", 500, {"error": {"message": "down"}}))
    settings = _settings(fake_openai, ai_mode="auto", ai_max_retries=0)
    result = ai.explain(HTTP_GET, settings=settings)
    assert result.source == "offline" and "HTTP 500" in result.note
    assert "www.ethereal.com" in result.text


def test_auto_mode_without_a_key_is_offline_and_sends_nothing(fake_openai):
    settings = netlab.Settings.load(
        env_file=None, ai_mode="auto", openai_api_key="", openai_base_url=fake_openai.url
    )
    result = ai.explain(HTTP_GET, settings=settings)
    assert result.source == "offline" and fake_openai.requests == []


def test_async_variant(fake_openai):
    fake_openai.replies.append(("json", 200, completion("async answer")))
    result = asyncio.run(ai.explain_async(HTTP_GET, settings=_settings(fake_openai)))
    assert result.text == "async answer" and result.source == "openai"
    fake_openai.replies.append(("slow", 10, completion("late")))
    with pytest.raises(netlab.ExplainError, match="did not answer"):
        asyncio.run(ai.explain_async(HTTP_GET, settings=_settings(fake_openai, ai_timeout=1.0)))


def test_explain_alert_with_its_window(fake_openai):
    df = netlab.read_pcap(DEMO_PCAP)
    alert = netlab.detect(df, [netlab.PortScanDetector()])[0]
    offline = ai.explain_alert(alert, df, settings=_settings(fake_openai, ai_mode="offline"))
    assert "Port scan from 192.168.1.99" in offline.text and "nmap" in offline.text
    fake_openai.replies.append(("json", 200, completion("A scan.")))
    result = ai.explain_alert(alert, df, settings=_settings(fake_openai))
    sent = json.dumps(fake_openai.requests[0]["body"])
    assert result.text == "A scan." and "192.168.1.99" in sent and "top_talkers" in sent


OFFLINE_CASES = [
    ("tcpdump__dns_udp.pcap", 0, ["DNS", "www.tcpdump.org", "question"]),
    ("pcpp__SSL-ClientHello1.pcap", 0, ["TLS ClientHello", "www.google.com", "HTTPS"]),
    ("dpkt__http.pcap", 3, ["Plain-text HTTP", "www.ethereal.com"]),
    ("dpkt__http.pcap", 0, ["connection attempt", "SYN", "HTTP"]),
    ("pcpp__one_http_stream_rst.pcap", 9, ["refused or aborted", "RST"]),
    ("dpkt__nb6-http.pcap", 33, ["Destination unreachable", "Port unreachable"]),
    ("pcpp__ArpRequestPacket.pcap", 0, ["ARP request", "Who has 10.0.0.138"]),
    ("tcpdump__tcp_eight_lowest_weight_flags_set.pcap", 0, ["SYN and FIN together", "scanners"]),
]


@pytest.mark.parametrize("name, index, phrases", OFFLINE_CASES)
def test_offline_explanations_of_real_packets(name, index, phrases):
    row = netlab.read_pcap(CORPUS / name).iloc[index]
    settings = netlab.Settings.load(env_file=None, ai_mode="offline")
    result = ai.explain(row, settings=settings)
    assert result.source == "offline" and result.model is None
    for phrase in phrases:
        assert phrase in result.text, result.text


def test_ttl_one_hint():
    from netlab.core.explain import offline_explanation

    text = offline_explanation(
        {
            "proto": "UDP",
            "src": "10.0.0.1",
            "dst": "10.0.0.2",
            "sport": 3333,
            "dport": 33434,
            "ttl": 1,
            "paylen": 12,
        }
    )
    assert "TTL 1" in text and "traceroute" in text


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_odd_retry_after_values_are_retried_sanely(fake_openai, value):
    fake_openai.retry_after = value
    fake_openai.replies.extend(
        [("json", 429, {"error": {"message": "slow"}}), ("json", 200, completion("fine"))]
    )
    assert ai.explain(HTTP_GET, settings=_settings(fake_openai)).text == "fine"
    fake_openai.replies.extend(
        [("json", 429, {"error": {"message": "slow"}}), ("json", 200, completion("async"))]
    )
    result = asyncio.run(ai.explain_async(HTTP_GET, settings=_settings(fake_openai)))
    assert result.text == "async"


def test_a_dripping_answer_ends_at_the_deadline_sync_and_async(fake_openai):
    # headers at once, then a byte every 0.5 s: each read is quick, the whole never ends
    # (it kept the sync explain 264 s with a 2 s timeout)
    body = json.dumps(completion("x" * 200)).encode()
    settings = _settings(fake_openai, ai_timeout=1.5, ai_max_retries=0)
    fake_openai.replies.append(("drip", 0.5, body))
    with pytest.raises(netlab.ExplainError, match=r"did not answer within 1.5 s"):
        ai.explain(HTTP_GET, settings=settings)
    fake_openai.replies.append(("drip", 0.5, body))
    with pytest.raises(netlab.ExplainError, match=r"did not answer within 1.5 s"):
        asyncio.run(ai.explain_async(HTTP_GET, settings=settings))


def test_credentials_in_the_base_url_never_appear_in_messages(fake_openai):
    import logging
    import subprocess
    import sys

    from netlab.server.security import RedactTokens

    fake_openai.replies.extend([("json", 500, {"error": {"message": "down"}})] * 3)
    url = fake_openai.url.replace("http://", "http://alice:hunter2@") + "?api-key=k3y"
    settings = _settings(fake_openai, openai_base_url=url, ai_mode="auto", ai_max_retries=0)
    result = ai.explain(HTTP_GET, settings=settings)
    assert result.source == "offline" and "HTTP 500" in result.note
    assert "hunter2" not in result.note and "alice" not in result.note and "k3y" not in result.note
    env = {**__import__("os").environ, "OPENAI_BASE_URL": url}
    shown = subprocess.run(
        [sys.executable, "-m", "netlab", "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    ).stdout
    assert "OPENAI_BASE_URL=" in shown and "hunter2" not in shown and "k3y" not in shown
    record = logging.LogRecord(
        "uvicorn.access",
        20,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4", "GET", "/ws?token=s3cret&x=1", "1.1", 101),
        None,
    )
    RedactTokens().filter(record)
    assert "s3cret" not in record.getMessage() and "token=***" in record.getMessage()


def _crafted_frames():
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    secret = b"SECRET-PAYLOAD-42"
    return secret, {
        "later IP fragment": Ether() / IP(proto=17, frag=100) / Raw(secret),
        "ICMPv6 echo": Ether() / IPv6() / ICMPv6EchoRequest(data=secret),
        "unknown IP protocol": Ether() / IP(proto=200) / Raw(secret),
        "unknown EtherType": Ether(type=0x88B5) / Raw(secret),
        "IPv6 no next header": Ether() / IPv6(nh=59) / Raw(secret),
        "UDP": Ether() / IP() / UDP(dport=9) / Raw(secret),
    }


@pytest.mark.parametrize("case", list(_crafted_frames()[1]))
def test_no_payload_byte_reaches_the_model_by_default(fake_openai, case):
    secret, frames = _crafted_frames()
    fake_openai.replies.append(("json", 200, completion("ok")))
    result = ai.explain((bytes(frames[case]), 1), settings=_settings(fake_openai))
    sent = json.dumps(fake_openai.requests[-1]["body"])
    assert result.text == "ok"
    for needle in (secret.decode(), secret.hex(), "SECRET"):
        assert needle not in sent, case


def test_redaction_catches_every_ipv6_spelling():
    from netlab.core.explain import Redactor

    text = "from ::1 to fe80:: and 2001:db8:: and 2001:db8::1, [::1]:80 at 12:34:56"
    out = Redactor().text(text)
    for address in ("::1", "fe80::", "2001:db8::", "2001:db8::1"):
        assert address not in out.replace("<", " ").replace(">", " ").split(), out
    assert "12:34:56" in out  # a time is not an address


def test_offline_explanations_never_run_scapy_and_the_model_path_gives_it_headers(monkeypatch):
    # a crafted 63 KB DNS frame cost 4 s of CPU in scapy, even offline
    import struct

    import synth

    questions = b"".join(b"\x01a\xc0\x0c\x00\x01\x00\x01" for _ in range(7800))
    dns = struct.pack(">HHHHHH", 1, 0x0100, 7800, 0, 0, 0) + questions
    frame = synth.ether(synth.ipv4("10.0.0.1", "10.0.0.2", 17, synth.udp(5, 53, dns)))
    assert len(frame) > 60_000
    given: list[int] = []
    real = policy.dissect

    def spy(raw, linktype=1, **kw):
        given.append(len(raw))
        return real(raw, linktype, **kw)

    monkeypatch.setattr(policy, "dissect", spy)
    result = ai.explain(frame, settings=netlab.Settings.load(env_file=None, ai_mode="offline"))
    assert result.source == "offline" and given == []
    policy.prepare(frame, netlab.Settings.load(env_file=None))
    assert given == [14 + 20 + 8]  # Ethernet, IPv4 and UDP headers: no DNS bytes to parse
