"""Random damage to the seeds' manifests, sent as creates, updates and patches: never an internal error.

Each round takes a seed manifest (or a stored object made from one) and
replaces, deletes or adds a few fields with awkward values (wrong types,
huge numbers, NULs, 300-character strings, non-ASCII, ...). The client must
refuse what does not parse with a ManifestError; the apiserver must answer
everything else with a reason a user can act on (Invalid, BadRequest,
Conflict, ...) or accept it, and stay up. Fixed seeds, so a failure replays.
"""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from kubelab import errors, manifests
from kubelab.client import Client, new_object

SEEDS = sorted((Path(__file__).parent.parent / "fixtures" / "seeds").glob("*.yaml"))
AWKWARD: list[Any] = [None, "", "x" * 300, -1, 0, 2 ** 31, 2 ** 63, -2 ** 40, 1.5, True, [], {}, "My_Pod", "日本語",
                      "\x00", "a" * 64, {"a": 1}, [1, 2], "-1", "1e9", "99999999999999999999", "10.96.0.1", "None",
                      "  ", "a..b"]
ACCEPTABLE = {"Invalid", "BadRequest", "AlreadyExists", "NotFound", "Forbidden", "Conflict"}


def _paths(d: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _paths(v, prefix + (i,))


def damage(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    paths = [p for p in _paths(doc) if len(p) > 1]
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        cur: Any = doc
        try:
            for k in path[:-1]:
                cur = cur[k]
            roll = rng.random()
            if roll < 0.6:
                cur[path[-1]] = copy.deepcopy(rng.choice(AWKWARD))
            elif roll < 0.8 and isinstance(cur, dict):
                del cur[path[-1]]
            elif isinstance(cur, dict):
                cur[f"bogus{rng.randint(0, 9)}"] = copy.deepcopy(rng.choice(AWKWARD))
        except (KeyError, IndexError, TypeError):
            pass    # an earlier change in this round removed the way there
    return doc


async def _send(what: str, call: Any, outcomes: dict[str, int]) -> None:
    try:
        await call
        outcomes[f"{what}:ok"] = outcomes.get(f"{what}:ok", 0) + 1
    except errors.ApiError as e:
        assert e.reason in ACCEPTABLE, f"{what} -> {e.reason}: {e.message}"
        outcomes[f"{what}:{e.reason}"] = outcomes.get(f"{what}:{e.reason}", 0) + 1


@pytest.mark.parametrize("seed", [1, 2])
async def test_damaged_manifests_never_cause_internal_errors(client: Client, seed: int) -> None:
    rng = random.Random(seed)
    ns = f"fuzz-{seed}"
    await client.create(new_object("Namespace", ns))
    originals = [yaml.safe_load(p.read_text()) for p in SEEDS]
    stored = []
    for i, doc in enumerate(originals):
        doc = copy.deepcopy(doc)
        doc["metadata"].update(name=f"seed{i}", namespace=ns)
        for port in doc.get("spec", {}).get("ports", []) if doc["kind"] == "Service" else []:
            port.pop("nodePort", None)      # one NodePort can be had once per cluster: let it be allocated
        stored.append(await client.create(manifests.from_dict(doc)))
    outcomes: dict[str, int] = {}
    for i in range(400):
        doc = damage(rng.choice(originals), rng)
        if isinstance(doc.get("metadata"), dict):
            doc["metadata"]["namespace"] = ns
            if isinstance(doc["metadata"].get("name"), str) and doc["metadata"]["name"] != "My_Pod":
                doc["metadata"]["name"] = f"f{i}"
        try:
            obj = manifests.from_dict(doc)
        except manifests.ManifestError:
            outcomes["client:ManifestError"] = outcomes.get("client:ManifestError", 0) + 1
        else:
            await _send("create", client.create(obj), outcomes)

        base = rng.choice(stored)
        live = manifests.to_dict(await client.get(base.kind, base.metadata.name, ns))
        changed = damage(live, rng)
        if rng.random() < 0.5:
            body = json.dumps({k: changed[k] for k in rng.sample(sorted(changed), k=min(2, len(changed)))})
            await _send("patch", client.patch(base.kind, base.metadata.name, body, ns,
                                              patch_type=rng.choice(["merge", "strategic", "apply"])), outcomes)
            continue
        if isinstance(changed.get("metadata"), dict):
            changed["metadata"].update(name=base.metadata.name, namespace=ns)
        try:
            obj = manifests.from_dict(changed)
        except manifests.ManifestError:
            outcomes["client:ManifestError"] = outcomes.get("client:ManifestError", 0) + 1
            continue
        await _send("update", client.update(obj), outcomes)
    # Every path was taken, and the apiserver still serves.
    assert outcomes.get("create:Invalid") and outcomes.get("patch:ok") and outcomes.get("update:ok"), outcomes
    assert outcomes.get("client:ManifestError") and outcomes.get("patch:BadRequest"), outcomes
    assert len((await client.list("Namespace"))[0]) >= 5
