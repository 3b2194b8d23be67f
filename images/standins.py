#!/usr/bin/env python3
"""The tutorials' images under their own names: lab stand-ins, and the lab registry's copy of them.

`kubelab/catalogue.py`'s STAND_INS pairs each name the tutorials use (`nginx:1.16`,
`jocatalin/kubernetes-bootcamp:v1`, ...) with the lab image it is made from (`kubelab/web`,
`kubelab/bootcamp:v1`, ...). Here:

    python3 images/standins.py build   each as localhost:5000/<normalised name> (FROM its lab image, plus
                                       the label io.kubelab.stand-in-for=<name>); cached by build hash
    python3 images/standins.py push    docker push each into the lab registry (compose's `registry`
                                       service, 127.0.0.1:5000): the kubelets' pulls of those names go there
    python3 images/standins.py tag     tag each under its own name on this engine (so `FROM nginx:1.16`
                                       builds offline), but never over an image the engine already has under
                                       that name unless it is one of these stand-ins

`build` runs at the end of a full `images/build.py`; `push` and `tag` when the compose lab starts
(lab/compose.py). The registry keeps them under `localhost:5000/docker.io/...` and
`localhost:5000/gcr.io/...`, apart from what users push (`localhost:5000/nginx:1.16` is theirs), and every
lab start pushes them again, so a stand-in is never silently replaced.

Standard library and the `docker` CLI only, like build.py.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
HASH_LABEL = "kubelab.build-hash"
RECIPE = "1"


def _catalogue():  # noqa: ANN202 - a module object
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
    """Push every stand-in into the lab registry (layers it has are not sent again)."""
    t0 = time.monotonic()
    for name, _ in CAT.STAND_INS:
        ref = CAT.mirrored(name)
        p = _docker("push", ref)
        if p.returncode != 0:
            raise StandInError(f"docker push {ref} failed: {(p.stderr or p.stdout).strip()[-500:]}")
    log(f"stand-ins: {len(CAT.STAND_INS)} pushed to the lab registry in {time.monotonic() - t0:.1f}s")


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
    actions = {"build": build, "push": push, "tag": tag}
    if not args or any(a not in actions for a in args):
        print(f"usage: {Path(__file__).name} build|push|tag ...", file=sys.stderr)
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
