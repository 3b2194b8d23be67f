"""`kubelab image load|ls`: the compose lab's registry (compose.yaml's `registry`, localhost:5000) and its
read-only mirror of the tutorials' images (`registry-mirror`, localhost:5001).

`load IMAGE...` pushes images from this machine's Docker engine into the lab registry in one command,
as `kind load docker-image` puts them on kind's nodes: each is tagged `localhost:5000/<name>` (the name
without docker.io/library/) and pushed, so a manifest naming `localhost:5000/<name>` runs on every node.
A name under `localhost:5000/docker.io/` or `localhost:5000/gcr.io/` is refused: it looks like a
replacement for a tutorial's image, but the kubelets pull those names (kubelab.catalogue.STAND_INS) from
the mirror, which takes no push; a user's `nginx:1.16` loads as `localhost:5000/nginx:1.16`, apart from
them. A name under localhost:5001/ is refused too: the mirror is read-only.

`ls` lists what both hold: each one's catalog and each repository's tags (registry API v2:
`/v2/_catalog`, `/v2/<name>/tags/list`).
"""
from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.error
import urllib.request
from typing import Any

import click

from kubectl.context import CLIError, global_options, out
from kubectl.tabwriter import table
from kubelab.catalogue import MIRROR, REGISTRY

# The host's loopback, where compose publishes the registries (REGISTRY and MIRROR are the engine's names).
API = "http://127.0.0.1:" + REGISTRY.rsplit(":", 1)[1]
MIRROR_API = "http://127.0.0.1:" + MIRROR.rsplit(":", 1)[1]
RESERVED = tuple(f"{REGISTRY}/{d}/" for d in ("docker.io", "gcr.io"))


@click.group("image")
@global_options
def image() -> None:
    """The lab registry (localhost:5000): load images into it, list what it and the mirror hold."""


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise CLIError("the docker CLI is not installed") from None


def registry_name(image_ref: str) -> str:
    """Where `load` puts an image: `nginx:1.16` → localhost:5000/nginx:1.16, `me/app` →
    localhost:5000/me/app:latest, `localhost:5000/x:v1` stays. Refuses the stand-ins' namespaces."""
    name = image_ref
    if name.startswith(MIRROR + "/"):
        raise CLIError(f'refusing to push "{image_ref}": {MIRROR} is the lab\'s read-only mirror of the '
                       f"tutorials' images (load it into {REGISTRY} under another name)")
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if not name.startswith(REGISTRY + "/"):
        name = f"{REGISTRY}/{name}"
    last = name.rsplit("/", 1)[1]
    if ":" not in last and "@" not in last:
        name += ":latest"
    if name.startswith(RESERVED):
        raise CLIError(f'refusing to push "{image_ref}": the kubelets pull the tutorials\' images (stand-ins) '
                       f"from the lab's read-only mirror {MIRROR}, never from {RESERVED[0]} or {RESERVED[1]} "
                       f"(load it under another name)")
    return name


@image.command("load")
@click.argument("images", nargs=-1, required=True)
@global_options
def load(images: tuple[str, ...]) -> None:
    """Push IMAGE... from this machine's Docker engine into the lab registry."""
    _get("/v2/")                                     # the registry is up, or one clear line
    for ref in images:
        target = registry_name(ref)
        p = _docker("image", "inspect", "--format", "{{.Id}}", ref)
        if p.returncode != 0:
            raise CLIError(f'image: "{ref}" not present locally')
        if target != ref:
            t = _docker("tag", ref, target)
            if t.returncode != 0:
                raise CLIError(f"docker tag {ref} {target}: {t.stderr.strip()}")
        push = _docker("push", target)
        if push.returncode != 0:
            said = (push.stderr or push.stdout).strip().splitlines()[-1:] or [""]
            raise CLIError(f"docker push {target}: {said[0]}{_why_push_failed(target)}")
        out(f'Image: "{ref}" pushed to the lab registry as "{target}"')


def _why_push_failed(target: str) -> str:
    """What the registry itself says when a push fails: Docker reports a full disk as a bare `500 Internal
    Server Error` after a minute of retries. Starting an upload (and cancelling it) shows the storage
    driver's error: ENOSPC (Err 28) means the storage is full. A failed push leaves no tag or manifest, so
    nothing half-written is ever served: a pull of the name fails with `manifest unknown`."""
    repo = target[len(REGISTRY) + 1:].rsplit("@", 1)[0].rsplit(":", 1)[0]
    req = urllib.request.Request(f"{API}/v2/{repo}/blobs/uploads/", data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            location = r.headers.get("Location") or ""
        if location:
            url = location if location.startswith("http") else API + location
            with contextlib.suppress(urllib.error.URLError, OSError):
                urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).close()
        return ""
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return ""
    if '"Err":28' in body or "no space left on device" in body:
        return (f"\nthe lab registry's storage is full (no space left on device): nothing of {target} was "
                f"stored, and a pull of it fails with `manifest unknown`; free space for the volume "
                f"kubelab-registry (see `docker logs kubelab-registry`)")
    return f"\nthe lab registry answers {code}: {body[:300]}"


def _get(path: str, api: str = API) -> Any:
    registry = REGISTRY if api == API else MIRROR
    try:
        with urllib.request.urlopen(api + path, timeout=10) as r:
            body = r.read()
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")[:300]
        raise CLIError(f"the lab registry {registry} answered {e.code} for {path}: {detail}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise CLIError(f"the lab registry at {registry} does not answer ({reason}): is the compose lab up "
                       f"(kubelab cluster up)?") from None
    return json.loads(body) if body.strip() else {}


def catalog(api: str = API) -> dict[str, list[str]]:
    """Every repository a registry holds and its tags, sorted."""
    repos: list[str] = []
    last = ""
    while True:                                     # the catalog is paginated (n, last)
        page = _get("/v2/_catalog?n=1000" + (f"&last={last}" if last else ""), api).get("repositories") or []
        repos += page
        if len(page) < 1000:
            break
        last = page[-1]
    return {r: sorted(_get(f"/v2/{r}/tags/list", api).get("tags") or []) for r in sorted(repos)}


@image.command("ls")
@global_options
def ls() -> None:
    """List the repositories and tags of the lab registry and of its read-only mirror."""
    rows = [["REPOSITORY", "TAGS"]]
    for host, api in ((REGISTRY, API), (MIRROR, MIRROR_API)):
        for repo, tags in catalog(api).items():
            rows.append([f"{host}/{repo}", ",".join(tags) or "<none>"])
    out(table(rows).rstrip("\n"))

