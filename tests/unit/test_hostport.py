"""`host:port` as every component reads it (kubelab.hostport.split_host_port: Go's net.SplitHostPort, with the
port a number): what a user types in --listen, --backend, --upstream, --metrics-address."""
from __future__ import annotations

import pytest

from kubelab.hostport import split_host_port
from proxy.balancer import Backend, parse_backend


@pytest.mark.parametrize("text,want", [
    pytest.param("127.0.0.1:6443", ("127.0.0.1", 6443), id="ipv4"),
    pytest.param("apiserver:8443", ("apiserver", 8443), id="name"),
    pytest.param("[::1]:8443", ("::1", 8443), id="ipv6-bracketed"),
    pytest.param("[fe80::1%eth0]:53", ("fe80::1%eth0", 53), id="ipv6-zone"),
    pytest.param(":9090", ("", 9090), id="empty-host-every-address"),
    pytest.param("localhost:65535", ("localhost", 65535), id="highest-port"),
])
def test_split(text: str, want: tuple[str, int]) -> None:
    assert split_host_port(text) == want


@pytest.mark.parametrize("text,why", [
    pytest.param("apiserver", "missing port", id="no-port"),
    pytest.param("apiserver:", "missing port", id="empty-port"),
    pytest.param("apiserver:http", "port 'http' is not a number", id="named-port"),
    pytest.param("apiserver:-1", "port '-1' is not a number", id="negative"),
    pytest.param("apiserver:70000", "port 70000 is out of range 1-65535", id="too-high"),
    pytest.param("apiserver:0", "port 0 is out of range 1-65535", id="zero"),
    pytest.param("::1:8443", "too many colons: an IPv6 address goes in brackets", id="ipv6-unbracketed"),
    pytest.param("[::1", "missing ']'", id="unclosed"),
    pytest.param("[::1]8443", "text after ']' that is not :port", id="no-colon-after-bracket"),
    pytest.param("host]:80", "unexpected bracket", id="stray-bracket"),
    pytest.param("[::1]", "missing port", id="ipv6-no-port"),
])
def test_refusals_name_the_text_and_the_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError) as e:
        split_host_port(text)
    assert str(e.value).startswith(f"{text!r} is not host:port (")
    assert why in str(e.value)


def test_listening_may_ask_for_a_free_port() -> None:
    assert split_host_port("127.0.0.1:0", min_port=0) == ("127.0.0.1", 0)
    assert split_host_port("[::]:0", min_port=0) == ("::", 0)


@pytest.mark.parametrize("text,want", [
    pytest.param("10.0.0.2", ("10.0.0.2", 53), id="ipv4"),
    pytest.param("10.0.0.2:5353", ("10.0.0.2", 5353), id="ipv4-port"),
    pytest.param("[::1]", ("::1", 53), id="ipv6-bracketed"),
    pytest.param("[::1]:5353", ("::1", 5353), id="ipv6-port"),
    pytest.param("2001:db8::53", ("2001:db8::53", 53), id="ipv6-bare-as-resolv-conf-writes-it"),
])
def test_a_default_port_fills_in(text: str, want: tuple[str, int]) -> None:
    assert split_host_port(text, 53) == want


def test_a_default_port_does_not_make_a_bad_address_good() -> None:
    with pytest.raises(ValueError, match="too many colons"):
        split_host_port("apiserver:80:81", 53)


def test_the_load_balancer_takes_ipv6_backends_and_refuses_ambiguous_ones() -> None:
    assert parse_backend("[2001:db8::1]:8443") == Backend("2001:db8::1", 8443)
    # It took `::1:8443` as host `::1`, port 8443; Go (so every Kubernetes flag) refuses it as ambiguous.
    with pytest.raises(ValueError, match="too many colons"):
        parse_backend("::1:8443")
    with pytest.raises(ValueError, match="missing host"):
        parse_backend(":8443")


def test_a_metrics_address_may_be_ipv6_and_defaults_to_loopback() -> None:
    from kubelab.serving import MetricsServer
    # It kept the brackets (`[::1]`), which no socket call takes.
    m = MetricsServer("[::1]:10255", lambda: "")
    assert (m.host, m.port) == ("::1", 10255)
    m = MetricsServer(":0", lambda: "")
    assert (m.host, m.port) == ("127.0.0.1", 0)
    with pytest.raises(ValueError, match="not host:port"):
        MetricsServer("127.0.0.1", lambda: "")
