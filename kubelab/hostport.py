"""`host:port` addresses, split once for every component (flags, listen addresses, upstreams, backends).

Where this sits: the shared library (`kubelab`), used by the apiserver (--listen), the proxy's load balancer
(--listen, --backend), the DNS server (--listen, --upstream), every component's metrics address
(kubelab.serving) and the lab's launcher. The rules are Go's net.SplitHostPort, as Kubernetes' flags read
them: the port after the last colon, an IPv6 host in brackets (`[::1]:6443`, returned without them), an empty
host allowed (`:6443`, every address); the port must be a number, so it comes back as one. What a site allows
beyond that is its own: port 0 to listen on a free port (`min_port=0`), a default port when none is given.
"""
from __future__ import annotations

import ipaddress


def split_host_port(text: str, default_port: int | None = None, min_port: int = 1) -> tuple[str, int]:
    """(host, port) of `host:port` or `[ipv6]:port`; ValueError naming `text` when it is not one.

    With `default_port`, an address without a port (`host`, `[::1]`, or a bare IPv6 address as resolv.conf
    writes it) takes that port."""
    def bad(why: str) -> ValueError:
        return ValueError(f"{text!r} is not host:port ({why})")

    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise bad("missing ']'")
        host, rest = text[1:end], text[end + 1:]
        if "[" in host or "]" in rest or "[" in rest:
            raise bad("unexpected bracket")
        if not rest:
            if default_port is None:
                raise bad("missing port")
            return host, default_port
        if not rest.startswith(":"):
            raise bad("text after ']' that is not :port")
        port = rest[1:]
    else:
        if "[" in text or "]" in text:
            raise bad("unexpected bracket")
        colons = text.count(":")
        if colons == 0:
            if default_port is None:
                raise bad("missing port")
            return text, default_port
        if colons > 1:
            if default_port is not None and _is_ipv6(text):
                return text, default_port
            raise bad("too many colons: an IPv6 address goes in brackets, as in [::1]:443")
        host, port = text.split(":")
    if not (port.isascii() and port.isdigit()):
        raise bad(f"port {port!r} is not a number" if port else "missing port")
    number = int(port)
    if not min_port <= number <= 65535:
        raise bad(f"port {number} is out of range {min_port}-65535")
    return host, number


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False
