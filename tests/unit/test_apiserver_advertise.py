"""Which address the apiserver publishes in the `kubernetes` Endpoints."""
from __future__ import annotations

import ipaddress

from apiserver.builtin import advertise_address


def test_given_address_wins() -> None:
    assert advertise_address("0.0.0.0:6443", "10.0.0.5") == "10.0.0.5"


def test_a_specific_listen_host_is_advertised() -> None:
    assert advertise_address("127.0.0.1:6443") == "127.0.0.1"
    assert advertise_address("172.28.0.3:6443") == "172.28.0.3"


def test_listening_everywhere_advertises_a_real_host_address() -> None:
    ip = ipaddress.ip_address(advertise_address("0.0.0.0:6443"))
    assert ip.version == 4 and not ip.is_unspecified


def test_a_listen_host_name_is_advertised_as_its_address() -> None:
    # An Endpoints address must be an IP: `--listen localhost:6443` publishes 127.0.0.1.
    assert advertise_address("localhost:6443") == "127.0.0.1"


def test_a_given_address_must_be_an_ip() -> None:
    import pytest
    with pytest.raises(ValueError):
        advertise_address("0.0.0.0:6443", "apiserver.example")
