"""JSON merge patch (RFC 7386), a strategic merge for Kubernetes' keyed lists,
and client-side apply's three-way merge.

Strategic merge knows the merge keys of the lists users patch: containers by
name, ports by containerPort/port, env by name, ... Lists without a known
key are replaced, as RFC 7386 says.
"""
from __future__ import annotations

import copy
import json
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# list field name -> merge key
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "conditions": "type",
    "ownerReferences": "uid",
    "imagePullSecrets": "name",
    "addresses": "type",
    "taints": "key",
}
# "ports" is keyed by containerPort inside containers and by port in services.
_PORT_KEYS = ("containerPort", "port")


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        for k in _PORT_KEYS:
            if items and all(isinstance(i, dict) and k in i for i in items):
                return k
        return None
    return MERGE_KEYS.get(field)


def _key(value: Any) -> Any:
    """A merge-key value usable as a dict key: a patch may carry any JSON there (`name: []`)."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    if isinstance(patch, list) and isinstance(target, list):
        key = _merge_key(field, patch + target)
        if key is None:
            return copy.deepcopy(patch)
        out = [copy.deepcopy(t) for t in target]
        index = {_key(t.get(key)): i for i, t in enumerate(out) if isinstance(t, dict)}
        for item in patch:
            if not isinstance(item, dict):
                continue
            k = _key(item.get(key))
            if item.get("$patch") == "delete":
                if k in index:
                    out[index[k]] = None
                continue
            if k in index:
                i = index[k]
                out[i] = strategic_merge(out[i], item)
            else:
                out.append(copy.deepcopy(item))
                index[k] = len(out) - 1
        return [o for o in out if o is not None]
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = strategic_merge(result.get(k), v, k)
    return result


def _deletions(last: Any, new: Any) -> Any:
    """Fields in the last-applied config that the new config no longer has → null."""
    if not isinstance(last, dict) or not isinstance(new, dict):
        return None
    out: dict[str, Any] = {}
    for k, v in last.items():
        if k not in new:
            out[k] = None
        elif isinstance(v, dict) and isinstance(new[k], dict):
            sub = _deletions(v, new[k])
            if sub:
                out[k] = sub
    return out


def _prune_keyed_lists(live: Any, last: Any, new: Any, field: str = "") -> Any:
    """Drop keyed-list items that were applied before and are gone from the new config."""
    if isinstance(live, list) and isinstance(last, list) and isinstance(new, list):
        key = _merge_key(field, last + new)
        if key is None:
            return live
        gone = ({_key(i.get(key)) for i in last if isinstance(i, dict)}
                - {_key(i.get(key)) for i in new if isinstance(i, dict)})
        kept = [i for i in live if not (isinstance(i, dict) and _key(i.get(key)) in gone)]
        by_key = {_key(i.get(key)): i for i in new if isinstance(i, dict)}
        last_by_key = {_key(i.get(key)): i for i in last if isinstance(i, dict)}
        return [(_prune_keyed_lists(i, last_by_key.get(_key(i.get(key))), by_key.get(_key(i.get(key))))
                 if isinstance(i, dict) else i) for i in kept]
    if isinstance(live, dict) and isinstance(last, dict) and isinstance(new, dict):
        return {k: _prune_keyed_lists(v, last.get(k), new.get(k), k) for k, v in live.items()}
    return live


def three_way_apply(live: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """kubectl's client-side apply: live + (new − last-applied deletions) + new."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    last: dict[str, Any] = {}
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        try:
            last = json.loads(annotations[LAST_APPLIED])
        except ValueError:
            last = {}
    patch = merge_patch(_deletions(last, new) or {}, new) if last else copy.deepcopy(new)
    base = _prune_keyed_lists(live, last, new) if last else live
    merged = strategic_merge(base, patch)
    metadata = merged.setdefault("metadata", {})
    if isinstance(metadata, dict) and isinstance(metadata.setdefault("annotations", {}), dict):
        metadata["annotations"][LAST_APPLIED] = last_applied_of(new)
    return merged     # a metadata that is not an object is left for validation to name


def last_applied_of(manifest: dict[str, Any]) -> str:
    clean = copy.deepcopy(manifest)
    ann = (clean.get("metadata") or {}).get("annotations")
    if ann and LAST_APPLIED in ann:
        del ann[LAST_APPLIED]
        if not ann:
            del clean["metadata"]["annotations"]
    return json.dumps(clean, separators=(",", ":"), sort_keys=True)
