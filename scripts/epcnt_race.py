#!/usr/bin/env python3
"""scripts/epcnt_race.py: concurrent endpoint creation/removal on one Docker network, with libnetwork's endpoint
count compared with the endpoints in dockerd's store (lab/docker_store.py) at quiescent checkpoints (kubelab issue
12, item 16). Run as root, under `flock /work/lab.lock`. Everything it makes is named klrepro-*, labelled klrepro=1,
on 10.213.0.0/16; image klrepro/pause:1 (the lab's pause image, tagged, or a static pause built with gcc when absent).

    python3 scripts/epcnt_race.py --mode churn --workers 8 --seconds 20 --checkpoints 4 --residents 4 --keep
    python3 scripts/epcnt_race.py --mode churn --workers 16 --seconds 30 --checkpoints 6 --residents 4 --serial-rm

Modes: churn (create+start, rm -f), pinned (churn with --ip), stop (churn with a stop before rm), connect (network
connect/disconnect of containers living on a second network), burst (N starts, then N removals).
--serial / --serial-rm / --serial-start: a client-side lock around endpoint-changing calls (all / removals / starts).
--residents N keeps N containers on the network so a count that falls below the endpoints is visible too.

What it showed on Docker 20.10.24 (2026-12-04): with 8 or 16 unserialised workers the count moved (both ways) in
most 20 s checkpoints and a fresh network was left with count 1 and no endpoint after 20 s (network rm: "has active
endpoints"); with removals serialised (--serial-rm) it stayed exact. Without --keep a drifted network cannot be
removed until dockerd restarts (or until further unserialised churn happens to bring the count back to 0).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lab import docker_store  # noqa: E402

IMAGE = "klrepro/pause:1"
LABELS = {"klrepro": "1"}
LOG = "/var/log/dockerd.log"
PAUSE_C = r"""
#include <signal.h>
#include <unistd.h>
static void bye(int s) { (void)s; _exit(0); }
int main(void) { signal(SIGTERM, bye); signal(SIGINT, bye); for (;;) pause(); }
"""


def ensure_image() -> None:
    """klrepro/pause:1: the lab's pause image when it is built, else a static pause binary built here with gcc."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0:
        return
    if subprocess.run(["docker", "tag", "kubelab/pause:latest", IMAGE], capture_output=True).returncode == 0:
        return
    if shutil.which("gcc") is None:
        sys.exit(f"{IMAGE} is missing, kubelab/pause:latest is not built and gcc is not there to build a pause")
    with tempfile.TemporaryDirectory() as d:
        src, root = Path(d) / "pause.c", Path(d) / "root"
        root.mkdir()
        src.write_text(PAUSE_C)
        subprocess.run(["gcc", "-static", "-Os", "-o", str(root / "pause"), str(src)], check=True)
        subprocess.run(["tar", "-C", str(root), "-cf", f"{d}/rootfs.tar", "."], check=True)
        subprocess.run(["docker", "import", "-c", 'CMD ["/pause"]', f"{d}/rootfs.tar", IMAGE], check=True,
                       capture_output=True)


class UConn(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost", timeout=120)

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(120)
        s.connect("/var/run/docker.sock")
        self.sock = s


def api(method, path, body=None, ok=(200, 201, 204, 304)):
    c = UConn()
    try:
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, "/v1.41" + path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        raw = r.read()
        if r.status not in ok:
            raise RuntimeError(f"{method} {path} -> {r.status} {raw[:200]!r}")
        return json.loads(raw) if raw else None
    finally:
        c.close()


def q(s):
    return urllib.parse.quote(s, safe="")


def create(name, netmode, ip=None):
    body = {"Image": IMAGE, "Labels": LABELS, "HostConfig": {"NetworkMode": netmode}}
    if ip:
        body["NetworkingConfig"] = {"EndpointsConfig": {netmode: {"IPAMConfig": {"IPv4Address": ip}}}}
    return api("POST", f"/containers/create?name={q(name)}", body)["Id"]


def start(cid):
    api("POST", f"/containers/{cid}/start")


def rm(cid):
    api("DELETE", f"/containers/{cid}?force=1&v=1", ok=(200, 204, 404))


def stop(cid, t=1):
    api("POST", f"/containers/{cid}/stop?t={t}", ok=(204, 304, 404))


def ours():
    f = q(json.dumps({"label": ["klrepro=1"]}))
    return api("GET", f"/containers/json?all=1&filters={f}")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = 0
        self.errors: dict[str, int] = {}

    def err(self, e):
        k = str(e)[:160]
        with self.lock:
            self.errors[k] = self.errors.get(k, 0) + 1


def log_offset():
    try:
        return os.path.getsize(LOG)
    except OSError:
        return 0


def log_since(off):
    try:
        with open(LOG, "rb") as f:
            f.seek(off)
            return f.read().decode(errors="replace").splitlines()
    except OSError:
        return []


INTERESTING = ("level=warn", "level=error", "endpoint", "epCnt", "endpoint_cnt", "retrying", "count")
BORING = ("cleaning up after shim disconnected", "shim disconnected", "cleanup warnings")


def read_drift(nid):
    # wait until stable (two equal reads 1 s apart)
    prev = None
    for _ in range(20):
        ec = docker_store.endpoint_count(nid)
        cur = (ec.count, len(ec.endpoints))
        if cur == prev:
            return ec
        prev = cur
        time.sleep(1)
    return ec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", default="klrepro-conc")
    ap.add_argument("--subnet", default="10.213.10.0/24")
    ap.add_argument("--mode", default="churn",
                    choices=["churn", "burst", "connect", "stop", "pinned"])
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30, help="per checkpoint (churn/stop/connect)")
    ap.add_argument("--checkpoints", type=int, default=3)
    ap.add_argument("--burst", type=int, default=16, help="containers per burst (burst mode)")
    ap.add_argument("--joiner", action="store_true", help="second container in the first's netns")
    ap.add_argument("--inspect", type=int, default=0, help="background threads doing GET /networks/<id>")
    ap.add_argument("--serial", action="store_true", help="client-side lock around every endpoint create/remove")
    ap.add_argument("--serial-rm", action="store_true", help="client-side lock around removals only")
    ap.add_argument("--serial-start", action="store_true", help="client-side lock around starts only")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--until-zero", action="store_true", help="stop at the first checkpoint with drift 0")
    ap.add_argument("--residents", type=int, default=0, help="containers kept on the network throughout")
    a = ap.parse_args()

    ensure_image()
    off = log_offset()
    tag = f"{a.mode}-k{a.workers}{'-j' if a.joiner else ''}{'-i' + str(a.inspect) if a.inspect else ''}{'-ser' if a.serial else ''}{'-serrm' if a.serial_rm else ''}{'-serstart' if a.serial_start else ''}"
    print(f"== {time.strftime('%H:%M:%S')} {tag} net={a.net} {vars(a)}", flush=True)
    try:
        api("POST", "/networks/create", {"Name": a.net, "CheckDuplicate": True, "Labels": LABELS,
                                         "IPAM": {"Config": [{"Subnet": a.subnet}]}})
    except RuntimeError as e:
        print("network create:", e)
    home = None
    if a.mode == "connect":
        home = a.net + "-home"
        hs = a.subnet.split(".")
        hs[2] = str(int(hs[2]) + 1)
        try:
            api("POST", "/networks/create", {"Name": home, "CheckDuplicate": True, "Labels": LABELS,
                                             "IPAM": {"Config": [{"Subnet": ".".join(hs)}]}})
        except RuntimeError as e:
            print("network create:", e)
    nid = api("GET", f"/networks/{q(a.net)}")["Id"]
    res_prefix = a.net + "_res"
    have = [c for c in ours() if any(n.lstrip("/").startswith(res_prefix) for n in c["Names"])]
    for i in range(len(have), a.residents):
        cid = create(f"{res_prefix}{i}", a.net)
        start(cid)
    ec = read_drift(nid)
    print(f"   start: count={ec.count} endpoints={len(ec.endpoints)} drift={ec.drift}", flush=True)

    st = Stats()
    serial = threading.Lock() if a.serial else None
    stop_ev = threading.Event()
    prefix = a.net + "-"

    class Nop:
        def __enter__(self): return self
        def __exit__(self, *e): return False
    S = serial if serial else Nop()
    RML = threading.Lock() if a.serial_rm else S
    if a.serial_start:
        S = threading.Lock()

    base = [int(x) for x in a.subnet.split("/")[0].split(".")]

    def w_churn(k):
        i = 0
        while not stop_ev.is_set():
            name = f"{prefix}w{k}-{i}"
            i += 1
            ids = []
            try:
                ip = f"{base[0]}.{base[1]}.{base[2]}.{10 + k}" if a.mode == "pinned" else None
                cid = create(name, a.net, ip)
                ids.append(cid)
                with S:
                    start(cid)
                if a.joiner:
                    j = create(name + "-j", f"container:{cid}")
                    ids.append(j)
                    start(j)
                time.sleep(random.random() * 0.05)
                if a.mode == "stop":
                    with RML:
                        stop(cid, 1)
            except Exception as e:  # noqa: BLE001
                st.err(e)
            finally:
                for c in reversed(ids):
                    try:
                        with RML:
                            rm(c)
                    except Exception as e:  # noqa: BLE001
                        st.err(e)
                with st.lock:
                    st.ops += 1

    def w_connect(k):
        # each worker owns one container on `home`, connects/disconnects it to/from the test network
        name = f"{prefix}c{k}"
        try:
            cid = create(name, home)
            start(cid)
        except Exception as e:  # noqa: BLE001
            st.err(e)
            return
        while not stop_ev.is_set():
            try:
                with S:
                    api("POST", f"/networks/{nid}/connect", {"Container": cid})
                time.sleep(random.random() * 0.05)
                with S:
                    api("POST", f"/networks/{nid}/disconnect", {"Container": cid, "Force": False})
            except Exception as e:  # noqa: BLE001
                st.err(e)
            with st.lock:
                st.ops += 1
        try:
            rm(cid)
        except Exception as e:  # noqa: BLE001
            st.err(e)

    def w_inspect():
        while not stop_ev.is_set():
            try:
                api("GET", f"/networks/{nid}")
            except Exception as e:  # noqa: BLE001
                st.err(e)

    def cleanup_wait():
        for _ in range(60):
            left = [c for c in ours() if any(n.lstrip("/").startswith(prefix) for n in c["Names"])]
            if not left:
                return 0
            for c in left:
                try:
                    rm(c["Id"])
                except Exception as e:  # noqa: BLE001
                    st.err(e)
            time.sleep(0.5)
        return len(left)

    results = []
    last = ec.drift
    for cp in range(1, a.checkpoints + 1):
        stop_ev.clear()
        t0 = time.time()
        ops0 = st.ops
        threads = []
        if a.mode == "burst":
            # start `burst` containers with `workers` threads, checkpoint, remove them all with `workers` threads
            names = [f"{prefix}b{cp}-{i}" for i in range(a.burst)]
            made: list[str] = []
            ml = threading.Lock()

            def mk(chunk):
                for n in chunk:
                    try:
                        cid = create(n, a.net)
                        with S:
                            start(cid)
                        with ml:
                            made.append(cid)
                        if a.joiner:
                            j = create(n + "-j", f"container:{cid}")
                            start(j)
                    except Exception as e:  # noqa: BLE001
                        st.err(e)
            ins = [threading.Thread(target=w_inspect) for _ in range(a.inspect)]
            for t in ins:
                t.start()
            chunks = [names[i::a.workers] for i in range(a.workers)]
            ts = [threading.Thread(target=mk, args=(c,)) for c in chunks]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            mid = read_drift(nid)
            allids = [c["Id"] for c in ours() if any(n.lstrip("/").startswith(prefix) for n in c["Names"])]

            def kill(chunk):
                for c in chunk:
                    try:
                        with RML:
                            rm(c)
                    except Exception as e:  # noqa: BLE001
                        st.err(e)
            chunks = [allids[i::a.workers] for i in range(a.workers)]
            ts = [threading.Thread(target=kill, args=(c,)) for c in chunks]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            stop_ev.set()
            for t in ins:
                t.join()
            st.ops += len(made)
            extra = f" after-start: count={mid.count} eps={len(mid.endpoints)} drift={mid.drift};"
        else:
            target = w_connect if a.mode == "connect" else w_churn
            threads = [threading.Thread(target=target, args=(k,)) for k in range(a.workers)]
            threads += [threading.Thread(target=w_inspect) for _ in range(a.inspect)]
            for t in threads:
                t.start()
            time.sleep(a.seconds)
            stop_ev.set()
            for t in threads:
                t.join()
            extra = ""
        left = cleanup_wait()
        ec = read_drift(nid)
        results.append(ec.drift - last)
        last = ec.drift
        if a.until_zero and ec.drift == 0:
            print("   count back to 0", flush=True)
            break
        print(f"   cp{cp} {time.strftime('%H:%M:%S')} {time.time() - t0:5.1f}s ops={st.ops - ops0}{extra} "
              f"leftover={left} count={ec.count} endpoints={len(ec.endpoints)} drift={ec.drift} (delta {results[-1]:+d})"
              f"{' ' + str(ec.endpoints) if ec.endpoints else ''}", flush=True)
    if st.errors:
        print("   errors:", json.dumps(st.errors)[:1500])
    lines = [l for l in log_since(off) if any(s in l for s in INTERESTING) and not any(b in l for b in BORING)]
    print(f"   dockerd log lines of interest: {len(lines)}")
    for l in lines[:25]:
        print("     ", l[:300])
    if not a.keep:
        cleanup_wait()
        for c in ours():
            if any(n.lstrip("/").startswith(res_prefix) for n in c["Names"]):
                rm(c["Id"])
        ec = read_drift(nid)
        if ec.drift == 0 or True:
            for n in [a.net] + ([home] if home else []):
                try:
                    api("DELETE", f"/networks/{q(n)}")
                except Exception as e:  # noqa: BLE001
                    print(f"   network rm {n}: {e}")
    print(f"   RESULT {tag}: deltas={results}", flush=True)


if __name__ == "__main__":
    main()
