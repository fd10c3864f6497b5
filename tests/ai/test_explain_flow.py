"""ai.explain_flow: a flow's summary and TCP health, its payload only when allowed; offline
and through the real openai client against a local endpoint."""

from __future__ import annotations

import json

from fake_openai import completion

import netlab
from conftest import CORPUS, DATA
from netlab import ai

LOSS = DATA / "tcp_trouble" / "loss.pcap"


def _settings(fake=None, **kw):
    base = {"ai_mode": "offline"}
    if fake is not None:
        base = {
            "ai_mode": "openai",
            "openai_api_key": "sk-test",
            "openai_base_url": fake.url,
            "ai_model": "test-model",
            "ai_max_retries": 0,
        }
    return netlab.Settings.load(env_file=None, **(base | kw))


def test_offline_tells_the_state_and_the_tcp_health():
    df = netlab.read_pcap(LOSS)
    result = ai.explain_flow(0, df, settings=_settings())
    assert result.source == "offline"
    assert "Zeek would log it as SF" in result.text
    flow = netlab.flows(df).iloc[0]
    assert f"retransmission ×{flow.retransmissions}" in result.text
    assert "of the packets were resent" in result.text
    clean = ai.explain_flow(
        netlab.flows(netlab.read_pcap(CORPUS / "dpkt__http.pcap")).iloc[0],
        netlab.read_pcap(CORPUS / "dpkt__http.pcap"),
        settings=_settings(),
    )
    assert "(http" in clean.text


def test_the_model_gets_counts_not_payload_unless_allowed(fake_openai):
    df = netlab.read_pcap(CORPUS / "dpkt__http.pcap")
    fake_openai.replies.append(("json", 200, completion("An HTTP download.")))
    result = ai.explain_flow(0, df, settings=_settings(fake_openai))
    assert result.source == "openai" and result.text == "An HTTP download."
    sent = json.dumps(fake_openai.requests[0]["body"])
    assert "orig_packets" in sent and "145.254.160.237" in sent
    assert "GET /download.html" not in sent and "No payload bytes are included" in sent
    fake_openai.replies.append(("json", 200, completion("ok")))
    ai.explain_flow(
        0, df, settings=_settings(fake_openai, ai_send_payload=True, ai_redact_addresses=True)
    )
    sent = json.dumps(fake_openai.requests[1]["body"])
    assert "GET /download.html HTTP/1.1" in sent and "HTTP/1.1 200 OK" in sent
    assert "145.254.160.237" not in sent


def test_a_failing_endpoint_falls_back_to_offline_in_auto_mode(fake_openai):
    df = netlab.read_pcap(LOSS)
    fake_openai.replies.append(("json", 500, {"error": {"message": "down"}}))
    result = ai.explain_flow(0, df, settings=_settings(fake_openai, ai_mode="auto"))
    assert result.source == "offline" and "failed" in result.note
