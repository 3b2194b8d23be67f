"""`kubelab image load|ls`: the compose lab's registry (compose.yaml's `registry`, localhost:5000).

`load IMAGE...` pushes images from this machine's Docker engine into the lab registry in one command,
as `kind load docker-image` puts them on kind's nodes: each is tagged `localhost:5000/<name>` (the name
without docker.io/library/) and pushed, so a manifest naming `localhost:5000/<name>` runs on every node.
A name under `localhost:5000/docker.io/` or `localhost:5000/gcr.io/` is refused: the lab's stand-ins for
the tutorials' images live there (kubelab.catalogue.STAND_INS), and a user's `nginx:1.16` loads as
`localhost:5000/nginx:1.16`, apart from them.

`ls` lists what the registry holds: its catalog and each repository's tags (registry API v2:
`/v2/_catalog`, `/v2/<name>/tags/list`).
"""
from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from typing import Any

import click

from kubectl.context import CLIError, global_options, out
from kubectl.tabwriter import table
from kubelab.catalogue import REGISTRY

# The host's loopback, where compose publishes the registry (REGISTRY is the engine's name for it).
API = "http://127.0.0.1:" + REGISTRY.rsplit(":", 1)[1]
RESERVED = tuple(f"{REGISTRY}/{d}/" for d in ("docker.io", "gcr.io"))


@click.group("image")
@global_options
def image() -> None:
    """The lab registry (localhost:5000): load images into it, list what it holds."""


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise CLIError("the docker CLI is not installed") from None


def registry_name(image_ref: str) -> str:
    """Where `load` puts an image: `nginx:1.16` → localhost:5000/nginx:1.16, `me/app` →
    localhost:5000/me/app:latest, `localhost:5000/x:v1` stays. Refuses the stand-ins' namespaces."""
    name = image_ref
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
        raise CLIError(f'refusing to push "{image_ref}": {RESERVED[0]} and {RESERVED[1]} hold the lab\'s '
                       f"stand-ins for the tutorials' images (load it under another name)")
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
            raise CLIError(f"docker push {target}: {(push.stderr or push.stdout).strip()}")
        out(f'Image: "{ref}" pushed to the lab registry as "{target}"')


def _get(path: str) -> Any:
    try:
        with urllib.request.urlopen(API + path, timeout=10) as r:
            body = r.read()
    except urllib.error.HTTPError as e:
        raise CLIError(f"the lab registry answered {e.code} for {path}: {e.read().decode(errors='replace')[:300]}"
                       ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise CLIError(f"the lab registry at {REGISTRY} does not answer ({reason}): is the compose lab up "
                       f"(kubelab cluster up)?") from None
    return json.loads(body) if body.strip() else {}


def catalog() -> dict[str, list[str]]:
    """Every repository the registry holds and its tags, sorted."""
    repos: list[str] = []
    last = ""
    while True:                                     # the catalog is paginated (n, last)
        page = _get("/v2/_catalog?n=1000" + (f"&last={last}" if last else "")).get("repositories") or []
        repos += page
        if len(page) < 1000:
            break
        last = page[-1]
    return {r: sorted(_get(f"/v2/{r}/tags/list").get("tags") or []) for r in sorted(repos)}


@image.command("ls")
@global_options
def ls() -> None:
    """List the lab registry's repositories and tags."""
    rows = [["REPOSITORY", "TAGS"]]
    for repo, tags in catalog().items():
        rows.append([f"{REGISTRY}/{repo}", ",".join(tags) or "<none>"])
    out(table(rows).rstrip("\n"))

