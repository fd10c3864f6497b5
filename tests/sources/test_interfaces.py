import pytest

import netlab


def test_interfaces_lists_loopback():
    ifaces = netlab.interfaces()
    lo = [i for i in ifaces if i.loopback]
    assert lo and lo[0].up
    assert "127.0.0.1" in lo[0].addresses
    assert all(isinstance(i.name, str) and i.name for i in ifaces)


def test_validate_bpf_accepts_good_filters():
    assert netlab.validate_bpf("tcp port 443 or udp port 53") > 0
    assert netlab.validate_bpf("") > 0  # the empty filter accepts everything


@pytest.mark.parametrize(
    "expr, message",
    [
        ("tcp port 99999", "illegal port number 99999 > 65535"),
        ("tcp and and", "syntax error"),
        ("ether host 00:11", "illegal link layer address"),
        ("host nonexistent.invalid", "unknown host"),
    ],
)
def test_validate_bpf_raises_libpcaps_own_message(expr, message):
    with pytest.raises(netlab.FilterError) as err:
        netlab.validate_bpf(expr)
    assert err.value.expression == expr
    assert message in err.value.message
    assert expr in str(err.value)


def test_validate_bpf_depends_on_the_link_type():
    assert netlab.validate_bpf("ether host 00:11:22:33:44:55", linktype=1) > 0
    with pytest.raises(netlab.FilterError):
        netlab.validate_bpf("ether host 00:11:22:33:44:55", linktype=101)  # raw IP: no MACs


def test_permission_fix_names_the_real_interpreter():
    import sys

    fix = netlab.sources.live.permission_fix()
    if sys.platform.startswith("linux"):
        # least privilege: a copy of the interpreter, or the server alone; never setcap on
        # the system interpreter (every Python program of every user would capture)
        assert "setcap cap_net_raw" not in fix and "netlab serve" in fix
        if sys.prefix != sys.base_prefix:
            assert f"scripts/setcap.sh {sys.prefix}" in fix and "python-capture" in fix
