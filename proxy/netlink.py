"""Service addresses on the node's loopback, through rtnetlink (what `ip addr add X/32 dev lo` does).

Where it sits: `proxy.server` calls `add`/`remove` as Services with a
ClusterIP come and go, and `list_addresses` once at start to remove what a
previous proxy left behind. The kubelab image has no iproute2, and one
netlink message is all `ip` would send, so it is sent from here. Needs
CAP_NET_ADMIN in the network namespace (the lab gives the proxy and node
containers NET_ADMIN); without it `add` raises PermissionError.

Linux accepts a packet for any local address whatever interface it came
in on, so a ClusterIP on `lo` receives what pods route to this node, and
the proxy binds a listening socket to it. Addresses in 127.0.0.0/8 are
local already and are never added.

Why by hand and not pyroute2: the proxy needs three requests (add, remove
and dump IPv4 addresses) and the check for a lost namespace; written out
they are the hundred lines below, on the standard library only. pyroute2
would put a large library (and its own netlink socket machinery) into
every node image for them, for no behaviour we lack. What keeps the
packing honest is tests/unit/test_proxy_netlink.py: every request against
the kernel, in a network namespace of its own (multi-datagram dumps,
EEXIST/EADDRNOTAVAIL, a missing device, a missing CAP_NET_ADMIN).
"""
from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct

RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
IFA_ADDRESS, IFA_LOCAL = 1, 2
RT_SCOPE_UNIVERSE = 0               # not "host": replies leave the node with this address as source

_NLMSG = struct.Struct("=LHHLL")    # len, type, flags, seq, pid
_IFADDR = struct.Struct("=BBBBI")   # family, prefixlen, flags, scope, ifindex
_RTA = struct.Struct("=HH")         # len, type


def is_loopback(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_loopback


def _rta(kind: int, data: bytes) -> bytes:
    length = _RTA.size + len(data)
    return _RTA.pack(length, kind) + data + b"\0" * (-length % 4)


class Netlink:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Netlink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, kind: int, flags: int, payload: bytes) -> list[tuple[int, bytes]]:
        """Send one request; the (type, payload) messages of the answer up to its ACK or DONE."""
        self.seq += 1
        seq = self.seq
        self.sock.send(_NLMSG.pack(_NLMSG.size + len(payload), kind, flags | NLM_F_REQUEST, seq, 0) + payload)
        out: list[tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + _NLMSG.size <= len(data):
                length, mtype, _, mseq, _ = _NLMSG.unpack_from(data, off)
                if length < _NLMSG.size:
                    return out
                body = data[off + _NLMSG.size:off + length]
                off += (length + 3) & ~3
                if mseq != seq:
                    continue
                if mtype == NLMSG_DONE:
                    return out
                if mtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", body)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return out                  # the ACK
                out.append((mtype, body))

    def _addr_message(self, ip: str, ifindex: int) -> bytes:
        packed = socket.inet_aton(ip)
        return _IFADDR.pack(socket.AF_INET, 32, 0, RT_SCOPE_UNIVERSE, ifindex) + \
            _rta(IFA_LOCAL, packed) + _rta(IFA_ADDRESS, packed)

    def add(self, ip: str, device: str = "lo") -> bool:
        """Add ip/32 to `device`; False when it was there already."""
        try:
            self._request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                          self._addr_message(ip, socket.if_nametoindex(device)))
        except OSError as e:
            if e.errno == errno.EEXIST:
                return False
            if e.errno == errno.EPERM:
                raise PermissionError(e.errno, f"adding {ip} to {device} needs CAP_NET_ADMIN") from None
            raise
        return True

    def remove(self, ip: str, device: str = "lo") -> bool:
        """Remove ip/32 from `device`; False when it was not there."""
        try:
            self._request(RTM_DELADDR, NLM_F_ACK, self._addr_message(ip, socket.if_nametoindex(device)))
        except OSError as e:
            if e.errno in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ENODEV):
                return False
            raise
        return True

    def list_addresses(self, device: str | None = "lo") -> list[str]:
        """IPv4 addresses on `device` (None: on every interface)."""
        index = socket.if_nametoindex(device) if device else None
        out = []
        for mtype, body in self._request(RTM_GETADDR, NLM_F_DUMP, _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)):
            if mtype != RTM_NEWADDR or len(body) < _IFADDR.size:
                continue
            family, _, _, _, ifindex = _IFADDR.unpack_from(body)
            if family != socket.AF_INET or (index is not None and ifindex != index):
                continue
            off = _IFADDR.size
            while off + _RTA.size <= len(body):
                length, kind = _RTA.unpack_from(body, off)
                if length < _RTA.size:
                    break
                if kind == IFA_LOCAL and length == _RTA.size + 4:
                    out.append(socket.inet_ntoa(body[off + _RTA.size:off + length]))
                off += (length + 3) & ~3
        return out


def has_routable_interface() -> bool:
    """Whether this network namespace has an interface besides lo.

    A container sharing another's namespace (compose `network_mode:
    service:nodeN`) is left with only lo when that container restarts; the
    proxy then exits so that its restart joins the new namespace.
    """
    return any(name != "lo" for _, name in socket.if_nameindex())
