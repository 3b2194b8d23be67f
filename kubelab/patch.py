"""JSON merge patch (RFC 7386), a strategic merge for Kubernetes' keyed lists,
JSON patch (RFC 6902), and client-side apply's three-way merge: the
apiserver's four patch types.

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
# Strategic-merge directives that only order list elements or name the keys to keep; the merge keeps the live
# order and keys, so they are skipped rather than stored as fields.
_ORDER_ONLY_DIRECTIVES = ("$setElementOrder/", "$retainKeys")
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
        if k.startswith(_ORDER_ONLY_DIRECTIVES):
            continue     # kubectl's `$setElementOrder/containers` (set image, apply): list order only
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
            if v != {}:        # the `annotations: {}` every last-applied carries set nothing to delete
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


# Go's encoding/json escapes these inside strings (HTML safety); everything else non-ASCII goes out raw.
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def last_applied_of(manifest: dict[str, Any]) -> str:
    """The last-applied annotation: the manifest as JSON without that annotation, nor the resourceVersion
    (apply sends the version it read as a precondition: not configuration, and it changes every write).

    Byte for byte what kubectl writes (GetModifiedConfiguration): the annotation removed from an
    `annotations` map that stays, if only as `{}`; keys sorted, Go's escaping, and the encoder's newline.
    Otherwise kubectl's apply after ours (or ours after kubectl's) sees the annotation change and says
    `configured` for an unchanged manifest."""
    clean = copy.deepcopy(manifest)
    if isinstance(clean.get("metadata"), dict):
        clean["metadata"].pop("resourceVersion", None)
        ann = clean["metadata"].get("annotations")
        if ann is None:
            clean["metadata"]["annotations"] = {}
        elif isinstance(ann, dict):
            ann.pop(LAST_APPLIED, None)
    text = json.dumps(clean, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text + "\n"

# ---------------------------------------------------------------- JSON patch (RFC 6902)
class JSONPatchError(ValueError):
    """A JSON patch that does not apply (kube-apiserver: 422 Invalid), or is not a list of operations
    (`malformed`: 400 BadRequest). The words are evanphx/json-patch's, the apiserver's library."""

    def __init__(self, message: str, malformed: bool = False) -> None:
        super().__init__(message)
        self.malformed = malformed


def json_patch_paths(ops: Any) -> set[str]:
    """The paths the operations of `ops` name (for what a patch means to set, before applying it)."""
    return {op["path"] for op in ops if isinstance(op, dict) and isinstance(op.get("path"), str)} \
        if isinstance(ops, list) else set()


def _pointer(op: dict[str, Any], member: str) -> list[str]:
    """The reference tokens of the JSON pointer in `op[member]` (RFC 6901)."""
    path = op.get(member)
    if not isinstance(path, str):
        raise JSONPatchError(f"{op['op']} operation: {member!r} must be a string, got {json.dumps(path)}")
    if path == "":
        raise JSONPatchError(f"{op['op']} operation: cannot patch the document root")
    if not path.startswith("/"):
        raise JSONPatchError(f"{op['op']} operation: invalid JSON pointer {path!r}: it must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(token: str, length: int, end_ok: bool) -> int:
    """A list index as evanphx/json-patch takes it: digits, below the length (or at it, for add)."""
    if not token.isdigit() or int(token) > length or (int(token) == length and not end_ok):
        raise JSONPatchError(f"Unable to access invalid index: {token}")
    return int(token)


def _child(cur: Any, token: str) -> tuple[bool, Any]:
    if isinstance(cur, dict):
        return token in cur, cur.get(token)
    if isinstance(cur, list) and token.isdigit() and int(token) < len(cur):
        return True, cur[int(token)]
    return False, None


def _resolve(doc: Any, tokens: list[str]) -> tuple[bool, Any]:
    """(found, value) at `tokens`: a missing step, or a step into a scalar, is not found."""
    cur = doc
    for t in tokens:
        found, cur = _child(cur, t)
        if not found:
            return False, None
    return True, cur


def _add(doc: Any, tokens: list[str], value: Any, verb: str, path: str) -> None:
    found, parent = _resolve(doc, tokens[:-1])
    key = tokens[-1]
    if isinstance(parent, list) and found:
        parent.insert(len(parent) if key == "-" else _index(key, len(parent), end_ok=True), value)
    elif isinstance(parent, dict) and found:
        parent[key] = value
    else:
        raise JSONPatchError(f'{verb} operation does not apply: doc is missing path: "{path}"')


def _remove(doc: Any, tokens: list[str], verb: str, path: str) -> Any:
    found, parent = _resolve(doc, tokens[:-1])
    key = tokens[-1]
    if isinstance(parent, list) and found:
        return parent.pop(_index(key, len(parent), end_ok=False))
    if isinstance(parent, dict) and found and key in parent:
        return parent.pop(key)
    raise JSONPatchError(f'{verb} operation does not apply: doc is missing path: "{path}"')


def _replace(doc: Any, tokens: list[str], value: Any, path: str) -> None:
    found, parent = _resolve(doc, tokens[:-1])
    key = tokens[-1]
    if isinstance(parent, list) and found:
        parent[_index(key, len(parent), end_ok=False)] = value
    elif isinstance(parent, dict) and found and key in parent:
        parent[key] = value
    else:
        raise JSONPatchError(f"replace operation does not apply: doc is missing key: {path}")


def _value(op: dict[str, Any]) -> Any:
    if "value" not in op:
        raise JSONPatchError(f"{op['op']} operation: missing value")
    return copy.deepcopy(op["value"])


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test) on plain JSON data, refusing what
    evanphx/json-patch (the apiserver's) refuses, in its words."""
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise JSONPatchError("a JSON patch must be a list of operations", malformed=True)
    for op in ops:
        if not isinstance(op, dict):
            raise JSONPatchError(f"a JSON patch operation must be an object, got {json.dumps(op)}", malformed=True)
        kind = op.get("op")
        if kind not in ("add", "remove", "replace", "move", "copy", "test"):
            raise JSONPatchError(f"Unexpected kind: {json.dumps(kind)}")
        tokens, path = _pointer(op, "path"), op["path"]
        if kind == "add":
            _add(doc, tokens, _value(op), kind, path)
        elif kind == "remove":
            _remove(doc, tokens, kind, path)
        elif kind == "replace":
            _replace(doc, tokens, _value(op), path)
        elif kind in ("move", "copy"):
            source = _pointer(op, "from")
            found, value = _resolve(doc, source)
            if not found:
                raise JSONPatchError(f'{kind} operation does not apply: doc is missing from path: "{op["from"]}"')
            if kind == "move":
                _remove(doc, source, kind, op["from"])
            _add(doc, tokens, copy.deepcopy(value), kind, path)
        else:
            found, value = _resolve(doc, tokens)
            if not found or not _json_equal(value, op.get("value")):
                raise JSONPatchError(f"testing value {path} failed")
    return doc


def _json_equal(a: Any, b: Any) -> bool:
    """Equal as JSON values: Python's `True == 1` is not JSON's (and 1 == 1.0 is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return a == b
