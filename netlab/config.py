"""Settings: every option from NETLAB_* environment variables and a .env file, validated once."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import SettingsError


class Settings(BaseSettings):
    """netlab's options. Each field is NETLAB_<NAME> in the environment or in `.env`."""

    model_config = SettingsConfigDict(
        env_prefix="NETLAB_",
        env_file=".env",
        extra="ignore",
        validate_default=True,
        populate_by_name=True,
    )

    # capture
    source: str = Field(
        "",
        description="What to capture: an interface name, a pcap/pcapng path, a ws:// server "
        "URL or `demo` (the bundled demo capture, replayed in a loop); empty means the live "
        "default interface if permitted, else the demo",
    )
    bpf: str = Field("", description="Default BPF capture filter (tcpdump syntax); empty: none")
    max_rows: int = Field(
        100_000, gt=0, le=20_000_000, description="Rows kept in a capture's rolling frame"
    )
    max_flows: int = Field(
        100_000,
        gt=0,
        le=10_000_000,
        description="Flows kept in a capture's live flow table; when full the longest idle "
        "ones are dropped first (counted as evicted)",
    )
    sensor: str = Field(
        "",
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]*$",
        description="This capture's name in an archive and to remote readers; empty: the host name",
    )
    archive_flush: float = Field(
        10.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="Seconds between an archive's writes (what a crash can lose at most)",
    )
    archive_max_age: float = Field(
        0.0,
        ge=0,
        le=100 * 365 * 24,
        allow_inf_nan=False,
        description="Hours an archive keeps (oldest hours removed first; by packet time of "
        "the hour, against the wall clock); 0: no limit",
    )
    archive_max_gb: float = Field(
        0.0,
        ge=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="GB an archive may take (oldest hours removed first); 0: no limit",
    )
    max_age: float = Field(
        0.0,
        ge=0,
        le=30 * 86400,
        allow_inf_nan=False,
        description="Also drop rows older than this many seconds; 0: no age limit",
    )
    snaplen: int = Field(
        262_144, ge=64, le=262_144, description="Bytes captured per packet on live interfaces"
    )
    buffer_mb: int = Field(
        32, gt=0, le=4096, description="Kernel capture buffer (libpcap ring) in MiB"
    )
    keep_bytes_mb: int = Field(
        64,
        ge=0,
        le=65536,
        description="MiB of the newest packet bytes a capture keeps, so its rows can be written "
        "back to pcap (netlab.write_pcap); 0: none",
    )
    stream_max_mb: int = Field(
        16,
        gt=0,
        le=65536,
        description="MiB of bytes netlab.stream() reassembles of one flow (both sides); the "
        "rest is cut and the stream marked truncated",
    )
    batch_interval: float = Field(
        0.05,
        gt=0,
        le=5,
        description="Seconds a read waits for packets (live sources: how often the kernel "
        "ring is drained)",
    )
    decode_interval: float = Field(
        0.2,
        gt=0,
        le=5,
        description="Seconds the decoder gathers what was read before decoding it as one batch, "
        "when it keeps up: each batch has a fixed cost (flow table, detectors, subscribers), so "
        "fewer, larger batches cost less CPU, and rows appear up to this much later",
    )
    backlog_batches: int = Field(
        64,
        gt=0,
        le=100_000,
        description="Decoded batches queued for slow subscribers before netlab drops",
    )

    # anomaly detection
    anomaly_window: int = Field(
        60, ge=2, le=86400, description="Seconds of history for the rate z-score"
    )
    anomaly_threshold: float = Field(
        4.0, gt=0, le=1000, allow_inf_nan=False, description="z-score above which a spike alerts"
    )
    anomaly_min_samples: int = Field(
        10, ge=2, le=86400, description="Seconds of history before any alert"
    )
    anomaly_cooldown: float = Field(
        10.0,
        ge=0,
        le=86400,
        allow_inf_nan=False,
        description="Seconds between alerts of a detector",
    )
    anomaly_direction: Literal["up", "down", "both"] = Field(
        "up", description="Rate alerts on spikes (up), drops towards silence (down) or both"
    )
    anomaly_metric: Literal["packets", "bytes"] = Field(
        "packets", description="What the rate detector counts per second"
    )
    detectors: str = Field(
        "rate,portscan,synflood",
        description="Detectors a capture runs (comma-separated: rate, portscan, synflood, "
        "newtalker); empty: none",
    )
    portscan_window: float = Field(
        10.0,
        gt=0,
        le=86400,
        allow_inf_nan=False,
        description="Seconds a port scan is looked for in",
    )
    portscan_ports: int = Field(
        100, ge=2, le=65536, description="Distinct ports one source must probe to count as a scan"
    )
    synflood_window: float = Field(
        10.0, gt=0, le=86400, allow_inf_nan=False, description="Seconds half-open connections count"
    )
    synflood_half_open: int = Field(
        200,
        ge=1,
        le=10_000_000,
        description="Half-open connections to one service that make a SYN flood",
    )
    newtalker_memory: float = Field(
        3600.0,
        gt=0,
        le=30 * 86400,
        allow_inf_nan=False,
        description="Seconds an address is remembered by the new-talker detector",
    )
    newtalker_learning: float = Field(
        300.0,
        ge=0,
        le=30 * 86400,
        allow_inf_nan=False,
        description="Seconds of learning before the new-talker detector alerts",
    )
    alert_history: int = Field(1000, gt=0, le=1_000_000, description="Alerts a capture keeps")

    # explain
    ai_mode: Literal["auto", "openai", "offline"] = Field(
        "auto", description="auto: OpenAI when OPENAI_API_KEY is set, offline otherwise"
    )
    openai_api_key: SecretStr = Field(
        SecretStr(""),
        validation_alias=AliasChoices("OPENAI_API_KEY", "NETLAB_OPENAI_API_KEY"),
        description="API key for the OpenAI-compatible endpoint (the openai SDK's variable)",
    )
    openai_base_url: str = Field(
        "",
        validation_alias=AliasChoices("OPENAI_BASE_URL", "NETLAB_OPENAI_BASE_URL"),
        description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 for Ollama; "
        "empty: OpenAI",
    )
    ai_model: str = Field("gpt-4o-mini", description="Chat model for explanations")
    ai_timeout: float = Field(
        20.0, gt=0, le=600, allow_inf_nan=False, description="Seconds before an AI call fails"
    )
    ai_max_retries: int = Field(2, ge=0, le=10, description="Retries on rate limits and 5xx")
    ai_send_payload: bool = Field(
        False, description="Send payload bytes to the AI (default: headers only)"
    )
    ai_redact_addresses: bool = Field(
        False, description="Replace IP and MAC addresses before sending"
    )

    # server
    server_host: str = Field("127.0.0.1", description="Address `netlab serve` binds")
    server_port: int = Field(8765, ge=1, le=65535, description="Port `netlab serve` binds")
    server_token: SecretStr = Field(
        SecretStr(""), description="Token required by every endpoint when set (needed off loopback)"
    )
    server_origins: str = Field(
        "http://127.0.0.1,http://localhost",
        description="Comma-separated origins allowed for WebSocket and CORS (ports are ignored)",
    )

    server_capture_dir: str = Field(
        "",
        description="Directory whose capture files POST /capture/settings may switch to "
        "(empty: interfaces only)",
    )
    server_ws_interval: float = Field(
        0.05,
        ge=0.01,
        le=5,
        description="Seconds between packet messages on /ws (rows are merged in between)",
    )
    server_ws_compression: bool = Field(
        False,
        description="Offer permessage-deflate on /ws: less bandwidth for remote clients, "
        "but the server compresses every message once per client",
    )

    # dashboard
    refresh_hz: float = Field(2.0, gt=0, le=30, description="Widget refreshes per second")
    dashboard_token: SecretStr = Field(
        SecretStr(""),
        description="Token the dashboard page requires when set (needed off loopback: "
        "`netlab dashboard --host 0.0.0.0`)",
    )
    dashboard_max_kernels: int = Field(
        8,
        ge=1,
        le=1000,
        description="Dashboard pages (each a kernel, ~300 MB) open at once; more answer 503",
    )

    @field_validator("detectors")
    @classmethod
    def _known_detectors(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = sorted(set(names) - {"rate", "portscan", "synflood", "newtalker"})
        if unknown:
            raise ValueError(f"unknown detector(s) {', '.join(unknown)}")
        return ",".join(names)

    @field_validator("bpf", "source")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("server_token", "dashboard_token", "openai_api_key")
    @classmethod
    def _strip_secret(cls, value: SecretStr) -> SecretStr:
        # a pasted token often brings a space or newline: it would work only in some places
        return SecretStr(value.get_secret_value().strip())

    @classmethod
    def load(cls, env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
        """Read the environment and `env_file`; raise SettingsError naming each bad variable."""
        try:
            return cls(_env_file=env_file, **overrides)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        name = env_name(field) if field in Settings.model_fields else field
        ctx = err.get("ctx") or {}
        got = err.get("input")
        limits = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
        bound = next((f"{sym} {ctx[key]}" for key, sym in limits if key in ctx), None)
        if bound:
            lines.append(f"{name} must be {bound}, got {got!r}")
        else:
            lines.append(f"{name}: {err['msg']}, got {got!r}")
    return "; ".join(lines)


def _default_text(name: str) -> str:
    value = Settings.model_fields[name].default
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def env_name(field: str) -> str:
    """The environment variable that sets a field."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"NETLAB_{field.upper()}"


def env_example() -> str:
    """The text of .env.example: every setting with its comment and default."""
    lines = [
        "# netlab settings. Copy to .env (or export) and change what you need.",
        "# Every variable is optional; the values below are the defaults.",
        "",
    ]
    for name, info in Settings.model_fields.items():
        lines.append(f"# {info.description}")
        lines.append(f"{env_name(name)}={_default_text(name)}")
    return "\n".join(lines) + "\n"


def safe_url(url: str) -> str:
    """`url` fit to print: user name, password and query (keys, tokens) replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = "***@" + netloc.rsplit("@", 1)[1]
        query = "***" if parts.query else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "(an unreadable URL)"


def settings_markdown() -> str:
    """Every setting as a Markdown table, for the README."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = _default_text(name)
        rows.append(f"| `{env_name(name)}` | `{default}` | {info.description} |")
    return "\n".join(rows)
