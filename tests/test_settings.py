import pytest

import netlab
from netlab.config import Settings


def test_defaults_work_without_environment(monkeypatch, tmp_path):
    import os

    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("NETLAB_", "OPENAI_"))]:
        monkeypatch.delenv(name)
    s = Settings.load()
    assert s.max_rows == 100_000 and s.ai_mode == "auto" and s.server_host == "127.0.0.1"


def test_environment_and_env_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("NETLAB_MAX_ROWS=500\nNETLAB_BPF= udp port 53 \n")
    monkeypatch.setenv("NETLAB_ANOMALY_THRESHOLD", "3.5")
    s = Settings.load()
    assert s.max_rows == 500 and s.bpf == "udp port 53" and s.anomaly_threshold == 3.5


def test_environment_wins_over_env_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("NETLAB_MAX_ROWS=500\n")
    monkeypatch.setenv("NETLAB_MAX_ROWS", "700")
    assert Settings.load().max_rows == 700


def test_bad_value_names_the_variable_and_the_range(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NETLAB_MAX_ROWS", "-5")
    with pytest.raises(netlab.SettingsError, match=r"NETLAB_MAX_ROWS must be > 0, got '-5'"):
        Settings.load()


def test_bad_choice_is_explained(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NETLAB_AI_MODE", "magic")
    with pytest.raises(netlab.SettingsError, match="NETLAB_AI_MODE"):
        Settings.load()


def test_env_example_documents_every_setting():
    from conftest import ROOT
    from netlab.config import env_example

    text = (ROOT / ".env.example").read_text()
    assert text == env_example(), "run scripts/gen_docs.py"
    from netlab.config import env_name

    for name in Settings.model_fields:
        assert f"\n{env_name(name)}=" in text, name


def test_readme_tables_match_the_code():
    from conftest import ROOT
    from netlab.config import settings_markdown
    from netlab.core.schema import markdown_table

    readme = (ROOT / "README.md").read_text()
    assert settings_markdown() in readme, "regenerate the README settings table"
    assert markdown_table() in readme, "regenerate the README columns table"


@pytest.mark.parametrize(
    "name, value",
    [
        ("max_age", "inf"),
        ("portscan_window", "inf"),
        ("newtalker_memory", "inf"),
        ("anomaly_cooldown", "nan"),
        ("alert_history", "100000000000000000000"),
        ("anomaly_window", "100000000000000000000"),
        ("max_rows", "100000000000000000000"),
        ("max_rows", "1000000000"),  # 7.45 GiB: a MemoryError at start
    ],
)
def test_settings_that_would_fail_later_are_refused_at_start(monkeypatch, name, value):
    monkeypatch.setenv(f"NETLAB_{name.upper()}", value)
    with pytest.raises(netlab.SettingsError, match=f"NETLAB_{name.upper()}"):
        netlab.Settings.load(env_file=None)


def test_a_token_with_surrounding_spaces_works_everywhere(monkeypatch):
    monkeypatch.setenv("NETLAB_SERVER_TOKEN", "  s3cret \n")
    assert netlab.Settings.load(env_file=None).server_token.get_secret_value() == "s3cret"
