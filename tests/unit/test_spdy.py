"""SPDY/3.1 framing (apiserver.http.spdy): frames round-trip, header blocks share one zlib context per
direction, partial input waits, and a peer breaking the protocol is refused."""
from __future__ import annotations

import struct
import zlib

import pytest

from apiserver.http import spdy


def test_dictionary_is_spdy3s() -> None:
    # 1,423 bytes, starting with the length-prefixed "options" and ending with the media-type tail.
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_syn_stream_headers_round_trip_across_several_blocks() -> None:
    client, server = spdy.Codec(), spdy.Codec()
    first = client.syn_stream(1, {"streamType": "error"})
    second = client.syn_stream(3, {"streamtype": "stdout"}, fin=True)
    frames = server.feed(first + second)
    assert [(f.kind, f.stream_id, f.headers) for f in frames] == [
        (spdy.SYN_STREAM, 1, {"streamtype": "error"}), (spdy.SYN_STREAM, 3, {"streamtype": "stdout"})]
    assert not frames[0].fin and frames[1].fin
    # the second block decodes only with the first block's zlib context: one context per direction
    with pytest.raises(spdy.ProtocolError):
        spdy.Codec().feed(second)


def test_headers_inflate_with_the_dictionary_as_go_writes_them() -> None:
    # A block compressed the way Go's compress/zlib does it with a dictionary (FDICT set, adler32 of it).
    raw = struct.pack(">I", 1) + struct.pack(">I", 4) + b"port" + struct.pack(">I", 4) + b"8080"
    c = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, spdy.DICTIONARY)
    block = c.compress(raw) + c.flush(zlib.Z_SYNC_FLUSH)
    assert block[1] & 0x20                       # FDICT: the peer must hold the same dictionary
    body = struct.pack(">IIBB", 5, 0, 0, 0) + block
    frame = spdy.Codec().feed(spdy.control_frame(spdy.SYN_STREAM, 0, body))[0]
    assert frame.headers == {"port": "8080"}


def test_data_frames_and_half_close() -> None:
    codec = spdy.Codec()
    frames = codec.feed(spdy.data_frame(7, b"hello") + spdy.data_frame(7, b"", fin=True))
    assert [(f.kind, f.stream_id, f.data, f.fin) for f in frames] == [(0, 7, b"hello", False), (0, 7, b"", True)]


def test_partial_input_waits_for_the_rest() -> None:
    wire = spdy.data_frame(1, b"x" * 100)
    codec = spdy.Codec()
    assert codec.feed(wire[:5]) == []
    assert codec.feed(wire[5:50]) == []
    [frame] = codec.feed(wire[50:])
    assert frame.data == b"x" * 100


@pytest.mark.parametrize("wire, want", [
    pytest.param(spdy.ping(7), (spdy.PING, "ping_id", 7), id="ping"),
    pytest.param(spdy.rst_stream(3, spdy.CANCEL), (spdy.RST_STREAM, "status", spdy.CANCEL), id="rst"),
    pytest.param(spdy.goaway(9, 0), (spdy.GOAWAY, "stream_id", 9), id="goaway"),
    # WINDOW_UPDATE is only read (the apiserver never sends one): written here as the client's side does.
    pytest.param(spdy.control_frame(spdy.WINDOW_UPDATE, 0, struct.pack(">II", 5, 1000)),
                 (spdy.WINDOW_UPDATE, "delta", 1000), id="window"),
])
def test_control_frames_round_trip(wire: bytes, want: tuple[int, str, int]) -> None:
    [frame] = spdy.Codec().feed(wire)
    assert frame.kind == want[0] and getattr(frame, want[1]) == want[2]


def test_settings_round_trip() -> None:
    [frame] = spdy.Codec().feed(spdy.settings({spdy.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20}))
    assert frame.settings == {spdy.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20}


def test_syn_reply_decodes() -> None:
    server, client = spdy.Codec(), spdy.Codec()
    [frame] = client.feed(server.syn_reply(1, {"status": "200"}))
    assert (frame.kind, frame.stream_id, frame.headers) == (spdy.SYN_REPLY, 1, {"status": "200"})


def test_another_version_is_a_protocol_error() -> None:
    wire = struct.pack(">HHI", 0x8000 | 2, spdy.PING, 4) + b"\0\0\0\1"
    with pytest.raises(spdy.ProtocolError, match="version 2"):
        spdy.Codec().feed(wire)


def test_a_header_block_that_is_not_zlib_is_a_protocol_error() -> None:
    body = struct.pack(">IIBB", 1, 0, 0, 0) + b"not zlib at all"
    with pytest.raises(spdy.ProtocolError):
        spdy.Codec().feed(spdy.control_frame(spdy.SYN_STREAM, 0, body))


def test_a_header_bomb_is_refused() -> None:
    raw = struct.pack(">I", 1) + struct.pack(">I", 1) + b"a" + struct.pack(">I", 50 << 20) + b"b" * (50 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, spdy.DICTIONARY)
    block = c.compress(raw) + c.flush(zlib.Z_SYNC_FLUSH)
    assert len(block) < 200_000
    body = struct.pack(">IIBB", 1, 0, 0, 0) + block
    with pytest.raises(spdy.ProtocolError, match="too large"):
        spdy.Codec().feed(spdy.control_frame(spdy.SYN_STREAM, 0, body))


def test_short_control_frame_is_a_protocol_error() -> None:
    with pytest.raises(spdy.ProtocolError, match="short"):
        spdy.Codec().feed(spdy.control_frame(spdy.RST_STREAM, 0, b"\0\0"))


def test_large_data_is_split() -> None:
    frames = spdy.split_data(3, b"z" * 70_000, chunk=32_768)
    got = spdy.Codec().feed(b"".join(frames))
    assert [len(f.data) for f in got] == [32_768, 32_768, 70_000 - 65_536]
