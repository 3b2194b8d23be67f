"""SPDY/3.1 framing: the streams kubectl before 1.31 (and 1.20, the seeds' era) opens for exec,
attach and port-forward after `Upgrade: SPDY/3.1`.

Sits under the apiserver's streaming subresources (`apiserver/http/streaming.py`), which map each
SPDY stream onto the apiserver ↔ kubelet gRPC streams. This module owns the protocol only, with no
I/O: `Codec.feed(bytes)` turns what arrived into frames, the `*_frame` functions turn frames into
bytes. It is written from the SPDY/3 draft (frames, header blocks, flow control) and what
client-go's spdystream sends: SYN_STREAM per channel with a `streamtype` header (`error`, `stdin`,
`stdout`, `stderr`, `resize` for exec; `error`/`data` plus `port` and `requestid` for port-forward),
DATA frames with FIN for half-close, PING, GOAWAY, RST_STREAM and WINDOW_UPDATE.

Header blocks are compressed with zlib seeded with SPDY/3's dictionary, one compression context per
direction for the whole connection (each block ends with a sync flush), as the draft requires.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN, FLAG_UNIDIRECTIONAL = 0x01, 0x02
# RST_STREAM status codes.
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 1, 2, 3, 5, 6, 7
SETTINGS_INITIAL_WINDOW_SIZE = 7
DEFAULT_WINDOW = 64 * 1024
MAX_FRAME = (1 << 24) - 1
MAX_HEADER_BLOCK = 1 << 20          # a header block that inflates past this is refused (a zlib bomb)

# SPDY/3's header dictionary (draft 3, section 2.6.10.1): length-prefixed header names and values,
# then a tail of status lines, dates and media types. It seeds both zlib contexts.
_DICT_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges "
    "age allow authorization cache-control connection content-base content-encoding content-language "
    "content-length content-location content-md5 content-range content-type date etag expect expires from "
    "host if-match if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status").split() + [
    "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
_DICT_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICT_WORDS) + _DICT_TAIL.encode()


class ProtocolError(Exception):
    """The peer broke the protocol: the connection ends with GOAWAY(PROTOCOL_ERROR)."""


@dataclass
class Frame:
    """One frame as read: `kind` is a control type, or 0 for DATA."""
    kind: int
    flags: int = 0
    stream_id: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""
    associated_id: int = 0
    status: int = 0
    delta: int = 0
    ping_id: int = 0
    settings: dict[int, int] = field(default_factory=dict)

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class Codec:
    """One connection's frame reader and header compressor (both directions keep zlib state)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 9,
                                         zlib.Z_DEFAULT_STRATEGY, DICTIONARY)

    # ---------------------------------------------------------------- reading
    def feed(self, data: bytes) -> list[Frame]:
        """Every whole frame in what has arrived so far; a partial frame waits for more."""
        self._buf += data
        frames = []
        while len(self._buf) >= 8:
            length = int.from_bytes(self._buf[5:8], "big")
            if len(self._buf) < 8 + length:
                break
            head, body = bytes(self._buf[:8]), bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            frames.append(self._parse(head, body))
        return frames

    def _parse(self, head: bytes, body: bytes) -> Frame:
        first, flags = struct.unpack(">I", head[:4])[0], head[4]
        if not first & 0x80000000:
            return Frame(0, flags, first & 0x7FFFFFFF, data=body)
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        try:
            return self._control(kind, flags, body)
        except (struct.error, IndexError) as e:
            raise ProtocolError(f"short control frame of type {kind}") from e

    def _control(self, kind: int, flags: int, body: bytes) -> Frame:
        if kind == SYN_STREAM:
            sid, assoc = struct.unpack(">II", body[:8])
            return Frame(kind, flags, sid & 0x7FFFFFFF, associated_id=assoc & 0x7FFFFFFF,
                         headers=self._headers(body[10:]))
        if kind in (SYN_REPLY, HEADERS):
            return Frame(kind, flags, struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF, headers=self._headers(body[4:]))
        if kind == RST_STREAM:
            sid, status = struct.unpack(">II", body[:8])
            return Frame(kind, flags, sid & 0x7FFFFFFF, status=status)
        if kind == SETTINGS:
            (count,) = struct.unpack(">I", body[:4])
            settings = {}
            for i in range(count):
                idf, value = struct.unpack(">II", body[4 + 8 * i:12 + 8 * i])
                settings[idf & 0xFFFFFF] = value
            return Frame(kind, flags, settings=settings)
        if kind == PING:
            return Frame(kind, flags, ping_id=struct.unpack(">I", body[:4])[0])
        if kind == GOAWAY:
            sid, status = struct.unpack(">II", body[:8])
            return Frame(kind, flags, sid & 0x7FFFFFFF, status=status)
        if kind == WINDOW_UPDATE:
            sid, delta = struct.unpack(">II", body[:8])
            return Frame(kind, flags, sid & 0x7FFFFFFF, delta=delta & 0x7FFFFFFF)
        return Frame(kind, flags)       # unknown control frames are ignored, as the draft says

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block, MAX_HEADER_BLOCK)
        except zlib.error as e:
            raise ProtocolError(f"header block does not inflate: {e}") from e
        if self._inflate.unconsumed_tail:
            raise ProtocolError("header block too large")
        try:
            (count,) = struct.unpack(">I", raw[:4])
            out: dict[str, str] = {}
            pos = 4
            for _ in range(count):
                (n,) = struct.unpack(">I", raw[pos:pos + 4])
                name = raw[pos + 4:pos + 4 + n].decode("latin-1")
                pos += 4 + n
                (v,) = struct.unpack(">I", raw[pos:pos + 4])
                value = raw[pos + 4:pos + 4 + v].decode("latin-1")
                pos += 4 + v
                out[name.lower()] = value
        except struct.error as e:
            raise ProtocolError("truncated header block") from e
        return out

    # ---------------------------------------------------------------- writing
    def header_block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            n, v = name.lower().encode("latin-1"), value.encode("latin-1")
            raw += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_reply(self, stream_id: int, headers: dict[str, str], fin: bool = False) -> bytes:
        return control_frame(SYN_REPLY, FLAG_FIN if fin else 0,
                             struct.pack(">I", stream_id) + self.header_block(headers))

    def syn_stream(self, stream_id: int, headers: dict[str, str], fin: bool = False) -> bytes:
        body = struct.pack(">IIBB", stream_id, 0, 0, 0) + self.header_block(headers)
        return control_frame(SYN_STREAM, FLAG_FIN if fin else 0, body)


def control_frame(kind: int, flags: int, body: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    if len(data) > MAX_FRAME:
        raise ValueError("a DATA frame carries at most 16 MiB")
    return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


def rst_stream(stream_id: int, status: int) -> bytes:
    return control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def ping(ping_id: int) -> bytes:
    return control_frame(PING, 0, struct.pack(">I", ping_id))


def goaway(last_stream_id: int, status: int = 0) -> bytes:
    return control_frame(GOAWAY, 0, struct.pack(">II", last_stream_id, status))


def settings(values: dict[int, int]) -> bytes:
    body = struct.pack(">I", len(values)) + b"".join(struct.pack(">II", k & 0xFFFFFF, v) for k, v in values.items())
    return control_frame(SETTINGS, 0, body)


def split_data(stream_id: int, data: bytes, chunk: int = 32 * 1024) -> list[bytes]:
    """DATA frames for `data`, each small enough that one slow stream does not hold the connection."""
    return [data_frame(stream_id, data[i:i + chunk]) for i in range(0, len(data), chunk)] or []
