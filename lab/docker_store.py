"""Docker's own count of a network's endpoints, read from dockerd's store: why a network with no container
on it cannot be removed.

Where it sits: tooling beside lab/compose.py (whose `down` uses it to say why the `kubelab` network was left),
scripts/lab_leak.py and the e2e test of `down`. Nothing of the lab's running path reads it.

Docker refuses `docker network rm` while libnetwork's endpoint count for the network is above 0, and it
corrects a wrong count only when dockerd starts ("Fixing inconsistent endpoint_cnt for network ..." in its
log). No Docker API shows the count: it is in dockerd's bbolt file (bucket "libnetwork"; key
docker/network/v1.0/endpoint_count/<network id>/ holds {"Count": N}, and each endpoint of the network is a key
under docker/network/v1.0/endpoint/<network id>/). A copy of the file is parsed here, read only; it needs
root (the file is dockerd's). A count above the endpoints the store holds is Docker's leak (docs/troubleshooting.md: endpoints removed at once).
"""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

STORE = Path("/var/lib/docker/network/files/local-kv.db")


@dataclass(frozen=True)
class EndpointCount:
    """libnetwork's count of a network's endpoints, and the endpoints its store holds."""
    count: int
    endpoints: tuple[str, ...]

    @property
    def drift(self) -> int:
        """How many endpoints the count has that the store does not hold (above 0: the network can never be
        removed until dockerd starts again)."""
        return self.count - len(self.endpoints)


def _fnv64a(b: bytes) -> int:
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    return h


def _leaves(data: bytes, psz: int, pgid: int, inline: bytes | None = None) -> list[tuple[int, bytes, bytes]]:
    """(flags, key, value) of every leaf element under page `pgid` (or of an inline bucket's page)."""
    buf, base = (inline, 0) if inline is not None else (data, pgid * psz)
    _, flags, count, _ = struct.unpack_from("<QHHI", buf, base)
    out: list[tuple[int, bytes, bytes]] = []
    for i in range(count):
        e = base + 16 + i * 16
        if flags & 0x01:                                # branch page: recurse into the child
            _, _, child = struct.unpack_from("<IIQ", buf, e)
            out += _leaves(data, psz, child)
        elif flags & 0x02:                              # leaf page
            fl, pos, ks, vs = struct.unpack_from("<IIII", buf, e)
            out.append((fl, bytes(buf[e + pos:e + pos + ks]), bytes(buf[e + pos + ks:e + pos + ks + vs])))
    return out


def read_store(path: Path = STORE) -> dict[str, bytes]:
    """Bucket "libnetwork" of a copy of dockerd's bbolt file: key → value (libkv's 8-byte index prefix removed).
    RuntimeError when the copy has no valid meta page (copied mid-write); OSError when it cannot be read."""
    with tempfile.TemporaryDirectory() as d:
        copy = Path(d) / "kv.db"
        shutil.copyfile(path, copy)
        data = copy.read_bytes()
    psz = struct.unpack_from("<I", data, 24)[0]
    metas = []
    for pg in (0, 1):
        o = pg * psz + 16
        magic, _, _, _, root, _, _, _, txid, ck = struct.unpack_from("<IIIIQQQQQQ", data, o)
        if magic == 0xED0CDAED and _fnv64a(data[o:o + 56]) == ck:
            metas.append((txid, root))
    if not metas:
        raise RuntimeError("no valid meta page (copied mid-write?)")
    _, root = max(metas)
    out: dict[str, bytes] = {}
    for fl, k, v in _leaves(data, psz, root):
        if fl & 1 and k == b"libnetwork":
            broot = struct.unpack_from("<Q", v, 0)[0]
            items = _leaves(data, psz, 0, inline=v[16:]) if broot == 0 else _leaves(data, psz, broot)
            for _, k2, v2 in items:
                out[k2.decode(errors="replace")] = v2[8:]
    return out


def network_id(name: str) -> str:
    """The full id the store keys network `name` by; "" when there is no such network."""
    r = subprocess.run(["docker", "network", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True,
                       timeout=60)
    return r.stdout.strip() if r.returncode == 0 else ""


def endpoint_count(network_id: str, path: Path = STORE) -> EndpointCount:
    """The count and the stored endpoints of network `network_id` (its full id). The file is copied again
    when a copy is caught mid-write; OSError when dockerd's file cannot be read (not root, no such file)."""
    for _ in range(5):
        try:
            kv = read_store(path)
            break
        except (RuntimeError, struct.error, IndexError):
            time.sleep(0.2)
    else:
        raise RuntimeError(f"cannot parse {path}")
    raw = kv.get(f"docker/network/v1.0/endpoint_count/{network_id}/")
    count = int(json.loads(raw)["Count"]) if raw else -1
    names = []
    for k, v in kv.items():
        if k.startswith(f"docker/network/v1.0/endpoint/{network_id}/") and v:
            try:
                names.append(str(json.loads(v).get("name", "?")))
            except ValueError:
                names.append("?")
    return EndpointCount(count, tuple(sorted(names)))
