#!/usr/bin/env python3
"""The tutorials' images under their own names: lab stand-ins, and the lab's read-only mirror of them.

`kubelab/catalogue.py`'s STAND_INS pairs each name the tutorials use (`nginx:1.16`,
`jocatalin/kubernetes-bootcamp:v1`, ...) with the lab image it is made from (`kubelab/web`,
`kubelab/bootcamp:v1`, ...). Here:

    python3 images/standins.py build   each as localhost:5001/<normalised name> (FROM its lab image, plus
                                       the label io.kubelab.stand-in-for=<name>); cached by build hash
    python3 images/standins.py check   exit 1 unless the mirror (127.0.0.1:5001) serves every stand-in as
                                       built here (its manifest digest is among the image's RepoDigests)
    python3 images/standins.py push    docker push each to localhost:5001 (the writable instance
                                       lab/compose.py runs on the mirror's storage while it fills it)
    python3 images/standins.py tag     tag each under its own name on this engine (so `FROM nginx:1.16`
                                       builds offline), but never over an image the engine already has under
                                       that name unless it is one of these stand-ins

`build` runs at the end of a full `images/build.py`; the rest when the compose lab starts (lab/compose.py).
The mirror (compose's `registry-mirror`) is read-only: a push to it is refused, and the users' registry on
localhost:5000 is a separate store that no mirrored pull reads, so a stand-in is never silently replaced.

Standard library and the `docker` CLI only, like build.py.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
HASH_LABEL = "kubelab.build-hash"
RECIPE = "1"


def _catalogue() -> types.ModuleType:
    """kubelab/catalogue.py, loaded by path: the one list of what the lab has (these scripts need only the
    standard library, not the package and its dependencies). images/build.py takes it from here too."""
    spec = importlib.util.spec_from_file_location("kubelab_catalogue", REPO_ROOT / "kubelab" / "catalogue.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CAT = _catalogue()


def _docker(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], input=input, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _inspect(ref: str) -> dict | None:
    p = _docker("image", "inspect", ref)
    return json.loads(p.stdout)[0] if p.returncode == 0 else None


def _labels(info: dict | None) -> dict[str, str]:
    return ((info or {}).get("Config") or {}).get("Labels") or {}


class StandInError(RuntimeError):
    pass


def build(log=print) -> int:  # noqa: ANN001
    """Build (or find cached) every stand-in; returns how many were built."""
    built = 0
    t0 = time.monotonic()
    for name, source in CAT.STAND_INS:
        ref = CAT.mirrored(name)
        src = _inspect(source)
        if src is None:
            raise StandInError(f"{source} (the stand-in for {name}) is not built: run python3 images/build.py")
        h = hashlib.sha256(json.dumps([RECIPE, name, src["Id"]]).encode()).hexdigest()[:32]
        if _labels(_inspect(ref)).get(HASH_LABEL) == h:
            continue
        # FROM the lab image, with labels only: no new layer, nothing to download.
        p = _docker("build", "--pull=false", "-q", "--label", f"{HASH_LABEL}={h}",
                    "--label", f"{CAT.STAND_IN_LABEL}={CAT.familiar(name)}", "-t", ref, "-",
                    input=f"FROM {source}\n")
        if p.returncode != 0:
            raise StandInError(f"building {ref} failed: {p.stderr.strip()[-500:]}")
        built += 1
    log(f"stand-ins: {len(CAT.STAND_INS)} ok ({built} built) in {time.monotonic() - t0:.1f}s")
    return built


def push(log=print) -> None:  # noqa: ANN001
    """Push every stand-in to localhost:5001 (layers it has are not sent again)."""
    t0 = time.monotonic()
    for name, _ in CAT.STAND_INS:
        ref = CAT.mirrored(name)
        p = _docker("push", ref)
        if p.returncode != 0:
            raise StandInError(f"docker push {ref} failed: {(p.stderr or p.stdout).strip()[-500:]}")
    log(f"stand-ins: {len(CAT.STAND_INS)} pushed to the lab's mirror in {time.monotonic() - t0:.1f}s")


MANIFEST_TYPES = ", ".join(("application/vnd.docker.distribution.manifest.v2+json",
                            "application/vnd.oci.image.manifest.v1+json"))


def served_digest(name: str) -> str | None:
    """The mirror's manifest digest for a normalised name, None when it does not serve it."""
    repo, _, tag_ = name.rpartition(":")
    url = f"http://127.0.0.1:{CAT.MIRROR.rsplit(':', 1)[1]}/v2/{repo}/manifests/{tag_}"
    req = urllib.request.Request(url, method="HEAD", headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.headers.get("Docker-Content-Digest")
    except (urllib.error.URLError, OSError):
        return None


def stale() -> list[str]:
    """The stand-ins the mirror does not serve as built on this engine."""
    out = []
    for name, _ in CAT.STAND_INS:
        ref = CAT.mirrored(name)
        digest = served_digest(name)
        have = (_inspect(ref) or {}).get("RepoDigests") or []
        if digest is None or f"{ref.rsplit(':', 1)[0]}@{digest}" not in have:
            out.append(name)
    return out


def check(log=print) -> None:  # noqa: ANN001
    missing = stale()
    if missing:
        raise StandInError(f"the lab's mirror does not serve (as built here): {', '.join(missing)}")
    log(f"stand-ins: {len(CAT.STAND_INS)} served by the lab's mirror")


def tag(log=print) -> list[str]:  # noqa: ANN001
    """Tag each stand-in under its own name on this engine unless that name holds someone else's image.
    Returns the names left alone."""
    kept: list[str] = []
    for name, _ in CAT.STAND_INS:
        ref, own = CAT.mirrored(name), CAT.familiar(name)
        have = _inspect(own)
        if have is not None and CAT.STAND_IN_LABEL not in _labels(have):
            kept.append(own)            # the user's own image: never written over
            continue
        mine = _inspect(ref)
        if mine is not None and (have is None or have["Id"] != mine["Id"]):
            _docker("tag", ref, own)
    if kept:
        log(f"stand-ins: left alone (this engine has its own images under these names): {', '.join(kept)}")
    return kept


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    actions = {"build": build, "check": check, "push": push, "tag": tag}
    if not args or any(a not in actions for a in args):
        print(f"usage: {Path(__file__).name} build|check|push|tag ...", file=sys.stderr)
        return 2
    try:
        for a in args:
            actions[a]()
    except StandInError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
