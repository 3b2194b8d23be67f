"""proxy/netlink.py against the kernel: each test runs in a network namespace of its own (`unshare --user
--map-root-user --net`: no root needed, nothing to clean up, the namespace dies with the process)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def in_namespace(code: str, net: bool = True) -> Any:
    """Run `code` (which sets `result`) in a fresh user (and network) namespace; `result` as JSON."""
    assert shutil.which("unshare"), "util-linux's unshare is needed for the netlink tests"
    script = "import json\nfrom proxy import netlink\n" + textwrap.dedent(code) + "\nprint(json.dumps(result))\n"
    cmd = ["unshare", "--user", "--map-root-user", *(["--net"] if net else []), sys.executable, "-c", script]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_add_list_remove_on_loopback() -> None:
    result = in_namespace("""
        with netlink.Netlink() as n:
            result = [n.list_addresses(), n.add("10.96.0.10"), n.add("10.96.0.10"), n.add("10.96.7.1"),
                      sorted(n.list_addresses()), n.list_addresses(None),
                      n.remove("10.96.0.10"), n.remove("10.96.0.10"), n.list_addresses()]
    """)
    assert result == [[], True, False, True, ["10.96.0.10", "10.96.7.1"], ["10.96.0.10", "10.96.7.1"],
                      True, False, ["10.96.7.1"]]


def test_a_listing_longer_than_one_read_is_read_whole() -> None:
    """A dump of many addresses comes in several datagrams: every one is read, up to NLMSG_DONE."""
    result = in_namespace("""
        ips = [f"10.96.{i // 250}.{i % 250 + 1}" for i in range(1200)]
        with netlink.Netlink() as n:
            for ip in ips:
                n.add(ip)
            listed = n.list_addresses()
            result = [len(listed), sorted(listed) == sorted(ips), n.add(ips[-1])]
    """)
    assert result == [1200, True, False]


def test_an_unknown_device_and_a_missing_privilege_say_so() -> None:
    result = in_namespace("""
        with netlink.Netlink() as n:
            try:
                n.add("10.96.0.10", "nope0")
                result = ["added"]
            except OSError as e:
                result = [type(e).__name__]
    """)
    assert result == ["OSError"]
    # A user namespace that does not own the network namespace: no CAP_NET_ADMIN there.
    result = in_namespace("""
        with netlink.Netlink() as n:
            try:
                n.add("10.96.0.10")
                result = ["added"]
            except PermissionError as e:
                result = [str(e)]
    """, net=False)
    assert result == ["[Errno 1] adding 10.96.0.10 to lo needs CAP_NET_ADMIN"]


def test_a_namespace_with_only_lo_has_no_routable_interface() -> None:
    assert in_namespace("result = netlink.has_routable_interface()") is False


@pytest.mark.parametrize("ip,loopback", [("127.0.0.1", True), ("127.1.2.3", True), ("10.96.0.1", False)])
def test_loopback_addresses_are_never_added(ip: str, loopback: bool) -> None:
    from proxy import netlink
    assert netlink.is_loopback(ip) is loopback
