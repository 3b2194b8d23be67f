"""Field management: who owns which field of an object (`metadata.managedFields`) and server-side apply.

Sits in the apiserver below the Store, which calls it on the writes that name a field manager (every HTTP
write does; a gRPC write when its request sets `field_manager`). Pure: objects in, objects and entries out,
no I/O. It does what Kubernetes' field manager (k8s.io/apimachinery managedfields, on
sigs.k8s.io/structured-merge-diff) does, on our schema:

- A field set is the set of paths an object sets, as structured-merge-diff's ToFieldSet makes it: scalars,
  atomic lists and atomic structs are leaves; a struct's fields are walked (the struct itself is no member);
  map entries (`labels`), list items keyed by their key fields (`k:{"name":"web"}`,
  `k:{"containerPort":80,"protocol":"TCP"}`) and set members (`v:"x"`) are members and are walked. What
  kind each list is comes from the same tables the OpenAPI documents are generated from
  (apiserver.http.openapi: PATCH_MERGE_KEYS, LIST_MAP_KEYS, PATCH_MERGE_SETS, ATOMIC_MESSAGES); every
  other list is atomic.
- `metadata.managedFields` entries hold a set as Kubernetes' FieldsV1 trie (`{"f:spec": {"f:replicas": {}}}`,
  `.` marking a member that also has members below it).
- Update (create, update, patches): the writer gains the fields it added or changed and loses those it
  removed; every other manager loses the fields the write changed or removed.
- Apply: the applied configuration is merged into the live object (the applier's values win, keyed lists
  merge item by item); the applier's set becomes exactly what it sent; what it owned before and no longer
  sends is removed from the object unless another manager owns it; a field another manager owns and the
  apply changes is a conflict (409) unless forced, when the applier takes it over.
- More than ten Update entries: the oldest are merged into one `ancient-changes` entry, as Kubernetes
  caps them.

Not done (see README): field sets per API version (each kind has one version here). Update entries mark
members as ToFieldSet does; Kubernetes' Compare also marks (`.`) a map or list an Update added whole.
"""
from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from apiserver.http.openapi import (ATOMIC_MESSAGES, LIST_KEY_DEFAULTS, LIST_MAP_KEYS, PATCH_MERGE_KEYS,
                                    PATCH_MERGE_SETS)
from kubelab import errors

Path = tuple[str, ...]
APPLY, UPDATE = "Apply", "Update"
BEFORE_FIRST_APPLY = "before-first-apply"
ANCIENT_CHANGES = "ancient-changes"
MAX_UPDATE_MANAGERS = 10          # Kubernetes' DefaultMaxUpdateManagers
MAX_MANAGER_LENGTH = 128
_NODE = object()          # the value of a member that has members below it (a list item, a struct map entry)
_VALUE = "google.protobuf.Value"
_STRUCT = "google.protobuf.Struct"
# Never owned by anyone (Kubernetes' stripMetaManager): identity and bookkeeping the server sets.
_STRIPPED: frozenset[Path] = frozenset({
    ("f:apiVersion",), ("f:kind",), ("f:metadata", "f:name"), ("f:metadata", "f:namespace"),
    ("f:metadata", "f:creationTimestamp"), ("f:metadata", "f:selfLink"), ("f:metadata", "f:uid"),
    ("f:metadata", "f:generation"), ("f:metadata", "f:managedFields"), ("f:metadata", "f:resourceVersion"),
})


# ----------------------------------------------------------------------------------------- schema
Keys = tuple[str, ...]


@functools.lru_cache(maxsize=None)
def _list_kind(owner: Descriptor, f: FieldDescriptor) -> tuple[str, Keys]:
    """("map", key fields) for a keyed list, ("set", ()) for a set, ("atomic", ()) for any other list."""
    where = (owner.name, f.json_name)
    key = PATCH_MERGE_KEYS.get(where)
    if key:
        return "map", tuple(LIST_MAP_KEYS.get(where, [key]))
    if where in PATCH_MERGE_SETS:
        return "set", ()
    return "atomic", ()


@functools.lru_cache(maxsize=None)
def _fields(desc: Descriptor) -> dict[str, FieldDescriptor]:
    return {f.json_name: f for f in desc.fields}


def _is_map(f: FieldDescriptor) -> bool:
    return f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.GetOptions().map_entry


def _is_struct(f: FieldDescriptor) -> bool:
    """A message walked field by field (not an int-or-string, free-form JSON or atomic struct)."""
    return (f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.full_name not in (_VALUE, _STRUCT)
            and f.message_type.name not in ATOMIC_MESSAGES)


def _key_value(item: Any, key: str) -> Any:
    """An item's key field, completed with the field's default when the item leaves it out."""
    if isinstance(item, dict) and key in item:
        return item[key]
    return LIST_KEY_DEFAULTS.get(key)


def item_element(keys: Keys, item: Any) -> str:
    """A keyed list item's path element: `k:{"name":"web"}`, `k:{"containerPort":80,"protocol":"TCP"}`."""
    return "k:" + json.dumps({k: _key_value(item, k) for k in keys}, separators=(",", ":"), sort_keys=True)


def set_element(value: Any) -> str:
    return "v:" + json.dumps(value, separators=(",", ":"), sort_keys=True)


# ------------------------------------------------------------------------------------- field sets
def field_values(obj: dict[str, Any], desc: Descriptor) -> dict[Path, Any]:
    """Every member path of `obj` (ToFieldSet's), with its value (`_NODE` for a member with members below)."""
    out: dict[Path, Any] = {}
    _walk_struct(obj, desc, (), out)
    return out


def _walk_struct(obj: Any, desc: Descriptor, path: Path, out: dict[Path, Any]) -> None:
    if not isinstance(obj, dict):
        out[path] = obj          # not an object where one belongs: validation names it; here it is a leaf
        return
    fields = _fields(desc)
    for name, value in obj.items():
        if value is None:
            continue             # null: unset (strategic merge's delete), owned by nobody
        here = path + (f"f:{name}",)
        if here in _STRIPPED:
            continue
        f = fields.get(name)
        if f is None:
            out[here] = value    # unknown to the schema (dropped or refused later): a leaf
        elif _is_map(f):
            _walk_map(value, desc, f, here, out)
        elif f.is_repeated:
            _walk_list(value, desc, f, here, out)
        elif _is_struct(f):
            _walk_struct(value, f.message_type, here, out)
        else:
            out[here] = value


def _walk_map(value: Any, owner: Descriptor, f: FieldDescriptor, path: Path, out: dict[Path, Any]) -> None:
    if not isinstance(value, dict):
        out[path] = value
        return
    val = f.message_type.fields_by_name["value"]
    for k, v in value.items():
        here = path + (f"f:{k}",)
        if val.type == FieldDescriptor.TYPE_MESSAGE and val.message_type.full_name not in (_VALUE, _STRUCT):
            _walk_struct(v, val.message_type, here, out)
            out[here] = _NODE
        else:
            out[here] = v


def _walk_list(value: Any, owner: Descriptor, f: FieldDescriptor, path: Path, out: dict[Path, Any]) -> None:
    kind, key = _list_kind(owner, f)
    if kind == "atomic" or not isinstance(value, list):
        out[path] = value
        return
    for item in value:
        if kind == "set":
            out[path + (set_element(item),)] = item
            continue
        here = path + (item_element(key, item),)
        if f.type == FieldDescriptor.TYPE_MESSAGE and _is_struct(f):
            _walk_struct(item, f.message_type, here, out)
            out[here] = _NODE
        else:
            out[here] = item


# -------------------------------------------------------------------------------------- FieldsV1
def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """A set as Kubernetes' FieldsV1 trie: each path a chain of nested objects, `.` for a member with
    members below it."""
    paths = set(paths)
    tree: dict[str, Any] = {}
    for p in sorted(paths):
        node = tree
        for element in p:
            node = node.setdefault(element, {})
    for p in paths:
        node = tree
        for element in p:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return _sorted_tree(tree)


def _sorted_tree(tree: dict[str, Any]) -> dict[str, Any]:
    # `.` first, then the elements in order, as Kubernetes writes them
    return {k: _sorted_tree(tree[k]) for k in sorted(tree, key=lambda k: (k != ".", k))}


def from_fields_v1(tree: Any) -> set[Path]:
    out: set[Path] = set()

    def walk(node: Any, path: Path) -> None:
        if not isinstance(node, dict):
            return
        if not node or "." in node:
            if path:
                out.add(path)
        for k, v in node.items():
            if k != ".":
                walk(v, path + (k,))
    walk(tree, ())
    return out


def path_string(path: Path) -> str:
    """A path as structured-merge-diff prints it in conflicts: `.spec.template.spec.containers[name="web"].image`."""
    out = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            out += "." + rest
        elif kind == "k":
            keys = json.loads(rest)
            out += "[" + ",".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in keys.items()) + "]"
        elif kind == "v":
            out += f"[={rest}]"
        else:
            out += f"[{rest}]"
    return out


# --------------------------------------------------------------------------------------- managers
@dataclass
class Managed:
    """One managedFields entry, decoded."""
    manager: str
    operation: str
    api_version: str
    subresource: str = ""
    time: str = ""
    fields: set[Path] = field(default_factory=set)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What tells two entries apart (Kubernetes' BuildManagerIdentifier): an applier's entry is the
        same whatever version it applied at."""
        return (self.manager, self.operation, self.subresource,
                "" if self.operation == APPLY else self.api_version)

    def described(self) -> str:
        """The manager as a conflict names it (`"kubectl-scale" with subresource "scale" using apps/v1`)."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text


def decode(entries: Iterable[dict[str, Any]]) -> list[Managed]:
    out: list[Managed] = []
    for e in entries:
        if not isinstance(e, dict) or not e.get("manager") and not e.get("fieldsV1"):
            continue
        out.append(Managed(str(e.get("manager", "")), str(e.get("operation", UPDATE)),
                           str(e.get("apiVersion", "")), str(e.get("subresource", "")), str(e.get("time", "")),
                           from_fields_v1(e.get("fieldsV1") or {})))
    return out


def cap_updates(managed: list[Managed], limit: int = MAX_UPDATE_MANAGERS) -> list[Managed]:
    """At most `limit` Update entries: the oldest (by time, then name) are merged into one `ancient-changes`
    entry, which takes the newest merged time (Kubernetes' capManagersManager)."""
    updaters = sorted((m for m in managed if m.operation == UPDATE and m.fields), key=lambda m: (m.time, m.manager))
    if len(updaters) <= limit:
        return managed
    merged = updaters[:len(updaters) - limit + 1]
    bucket = next((m for m in merged if m.manager == ANCIENT_CHANGES and not m.subresource), None) or Managed(
        ANCIENT_CHANGES, UPDATE, merged[-1].api_version)
    for m in merged:
        bucket.fields |= m.fields
    bucket.time = merged[-1].time
    return [m for m in managed if m not in merged] + [bucket]


def encode(managed: Iterable[Managed]) -> list[dict[str, Any]]:
    """The entries, in Kubernetes' order (appliers first, then by time, manager, version, subresource);
    a manager that owns nothing has no entry."""
    kept = sorted((m for m in managed if m.fields),
                  key=lambda m: (m.operation, m.time, m.manager, m.api_version, m.subresource))
    out = []
    for m in kept:
        entry: dict[str, Any] = {"manager": m.manager, "operation": m.operation, "apiVersion": m.api_version}
        if m.time:
            entry["time"] = m.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = to_fields_v1(m.fields)
        if m.subresource:
            entry["subresource"] = m.subresource
        out.append(entry)
    return out


def manager_from_user_agent(user_agent: str) -> str:
    """Kubernetes' default manager for a write that names none: the User-Agent up to its first `/`
    (`kubectl-edit/v1.37.0 (linux/amd64) kubernetes/...` → `kubectl-edit`)."""
    return user_agent.split("/", 1)[0][:MAX_MANAGER_LENGTH]


def invalid_options(options: str, what: str) -> errors.Invalid:
    """kube-apiserver's 422 for a request's options (`PatchOptions.meta.k8s.io "" is invalid: ...`)."""
    return errors.Invalid(f'{options}.meta.k8s.io "" is invalid: {what}')


def validate_manager(name: str, options: str = "PatchOptions") -> None:
    """kube-apiserver's ValidateFieldManager, in its words."""
    if len(name.encode()) > MAX_MANAGER_LENGTH:
        raise invalid_options(options, f"fieldManager: Too long: may not be more than {MAX_MANAGER_LENGTH} bytes")
    if any(not c.isprintable() for c in name):
        raise invalid_options(options, f"fieldManager: Invalid value: {json.dumps(name)}: invalid characters")


def check_applied(config: Any) -> None:
    """An applied configuration may not carry managedFields (they are the server's to write)."""
    if isinstance(config, dict) and isinstance(config.get("metadata"), dict) \
            and config["metadata"].get("managedFields") is not None:
        raise errors.BadRequest("metadata.managedFields must be nil")


# ------------------------------------------------------------------------------------- the writes
@dataclass
class Write:
    """Who writes, and through what: the kind's schema and version, the subresource ("" for the object)."""
    manager: str
    desc: Descriptor
    api_version: str
    subresource: str = ""
    has_status: bool = False
    now: str = ""


def _scoped(paths: dict[Path, Any], w: Write) -> dict[Path, Any]:
    """What a write through the object or its status may own: the status subresource writes `.status`,
    the object (of a kind with a status subresource) everything else, as Kubernetes' reset fields say."""
    if not w.has_status:
        return paths
    if w.subresource == "status":
        return {p: v for p, v in paths.items() if p[0] == "f:status"}
    return {p: v for p, v in paths.items() if p[0] != "f:status"}


def _in_scope(config: dict[str, Any], w: Write) -> dict[str, Any]:
    """The part of an applied configuration the write may set (Kubernetes removes reset fields from it):
    an apply to the object leaves `.status` alone, an apply to the status only `.status` (and identity)."""
    if not w.has_status:
        return config
    if w.subresource == "status":
        return {k: v for k, v in config.items() if k in ("apiVersion", "kind", "metadata", "status")}
    return {k: v for k, v in config.items() if k != "status"}


def _compare(old: dict[Path, Any], new: dict[Path, Any]) -> tuple[set[Path], set[Path]]:
    """(added or modified, removed) between two objects' field values."""
    changed = {p for p, v in new.items() if p not in old or (v is not _NODE and old[p] != v)}
    return changed, set(old) - set(new)


def _entry_of(managed: list[Managed], w: Write, operation: str) -> Managed:
    for m in managed:
        if m.identity == (w.manager, operation, w.subresource, "" if operation == APPLY else w.api_version):
            return m
    m = Managed(w.manager, operation, w.api_version, w.subresource)
    managed.append(m)
    return m


def update(old: dict[str, Any] | None, new: dict[str, Any], entries: list[dict[str, Any]],
           w: Write) -> list[dict[str, Any]]:
    """The managedFields after a non-apply write of `new` over `old` (None: a create) by `w.manager`."""
    managed = decode(entries)
    before = _scoped(field_values(old, w.desc), w) if old is not None else {}
    after = _scoped(field_values(new, w.desc), w)
    changed, removed = _compare(before, after)
    if not changed and not removed:
        return encode(managed)
    mine = _entry_of(managed, w, UPDATE)
    for m in managed:
        if m is not mine:
            m.fields -= changed | removed
    mine.fields = (mine.fields | changed) - removed
    mine.api_version, mine.time = w.api_version, w.now
    return encode(cap_updates(managed))


class Conflicts(errors.Conflict):
    """An apply that would change fields other managers own: 409 with a FieldManagerConflict cause each."""

    def __init__(self, conflicts: list[tuple[Managed, Path]]) -> None:
        self.causes = [ConflictCause(m.described(), path_string(p)) for m, p in conflicts]
        super().__init__(conflict_message(conflicts))


@dataclass
class ConflictCause:
    """A metav1.StatusCause of type FieldManagerConflict (status.cause_of reads these attributes)."""
    message: str
    path: str
    cause_type: str = "FieldManagerConflict"

    def __str__(self) -> str:
        return f"conflict with {self.message}"


def conflict_message(conflicts: list[tuple[Managed, Path]]) -> str:
    """Kubernetes' words: one conflict on one line; several grouped by manager (sorted), a path a line."""
    if len(conflicts) == 1:
        m, p = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {m.described()}: {path_string(p)}"
    by_manager: dict[str, list[Path]] = {}
    for m, p in conflicts:
        by_manager.setdefault(m.described(), []).append(p)
    lines = []
    for name in sorted(by_manager):
        lines.append(f"conflicts with {name}:")
        lines.extend(f"- {path_string(p)}" for p in sorted(by_manager[name]))
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


def apply(live: dict[str, Any] | None, config: dict[str, Any], w: Write,
          force: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Server-side apply of `config` by `w.manager` to `live` (None: the object is created by it).

    Returns the merged object (without managedFields) and its managedFields; raises Conflicts."""
    check_applied(config)
    existed = live is not None
    live = copy.deepcopy(live or {})
    managed = decode((live.get("metadata") or {}).get("managedFields") or [])
    if isinstance(live.get("metadata"), dict):
        live["metadata"].pop("managedFields", None)
    if existed and not managed:
        # Written by no manager yet (a gRPC client's object): Kubernetes gives what is there to
        # "before-first-apply", so the first apply still conflicts with values it would change.
        managed = [Managed(BEFORE_FIRST_APPLY, UPDATE, w.api_version, w.subresource, w.now,
                           set(_scoped(field_values(live, w.desc), w)))]
    config = _in_scope(config, w)
    applied = field_values(config, w.desc)
    merged = merge(live, config, w.desc)
    mine = _entry_of(managed, w, APPLY)
    last = set(mine.fields)
    others = [m for m in managed if m is not mine]
    # Fields it applied before and not now go, unless someone else owns them (or something below them).
    owned_elsewhere = set().union(*(m.fields for m in others)) if others else set()
    gone = {p for p in last - set(applied)
            if not any(o[:len(p)] == p for o in owned_elsewhere)}
    for p in sorted(gone, key=len):
        remove(merged, p)
    before, after = field_values(live, w.desc), field_values(merged, w.desc)
    changed, removed = _compare(before, after)
    conflicts = [(m, p) for m in others for p in sorted(m.fields & changed)]
    if conflicts and not force:
        raise Conflicts(conflicts)
    for m in others:
        m.fields -= changed | removed
    changed_anything = mine.fields != set(applied) or bool(changed or removed)
    mine.fields = set(applied)
    mine.api_version = w.api_version
    if changed_anything or not mine.time:
        mine.time = w.now
    return merged, encode(cap_updates(managed))


# ----------------------------------------------------------------------------------- merge, remove
def merge(live: Any, config: Any, desc: Descriptor) -> Any:
    """`config` merged into `live`: the config's values win; structs and maps merge key by key, keyed lists
    item by item (live order, new items after), sets as unions; atomic lists and scalars are replaced."""
    if not isinstance(live, dict) or not isinstance(config, dict):
        return copy.deepcopy(config)
    out = copy.deepcopy(live)
    fields = _fields(desc)
    for name, value in config.items():
        f = fields.get(name)
        if value is None:
            out.pop(name, None)
        elif f is None or name not in out:
            out[name] = copy.deepcopy(value)
        elif _is_map(f):
            val = f.message_type.fields_by_name["value"]
            if isinstance(value, dict) and isinstance(out[name], dict):
                for k, v in value.items():
                    if val.type == FieldDescriptor.TYPE_MESSAGE and val.message_type.full_name != _VALUE:
                        out[name][k] = merge(out[name].get(k), v, val.message_type)
                    else:
                        out[name][k] = copy.deepcopy(v)
            else:
                out[name] = copy.deepcopy(value)
        elif f.is_repeated:
            out[name] = _merge_list(out[name], value, desc, f)
        elif _is_struct(f):
            out[name] = merge(out[name], value, f.message_type)
        else:
            out[name] = copy.deepcopy(value)
    return out


def _merge_list(live: Any, config: Any, owner: Descriptor, f: FieldDescriptor) -> Any:
    kind, key = _list_kind(owner, f)
    if kind == "atomic" or not isinstance(live, list) or not isinstance(config, list):
        return copy.deepcopy(config)
    if kind == "set":
        return copy.deepcopy(live) + [copy.deepcopy(v) for v in config if v not in live]
    out = copy.deepcopy(live)
    index = {item_element(key, item): i for i, item in enumerate(out)}
    for item in config:
        element = item_element(key, item)
        if element in index:
            i = index[element]
            out[i] = merge(out[i], item, f.message_type) if _is_struct(f) else copy.deepcopy(item)
        else:
            index[element] = len(out)
            out.append(copy.deepcopy(item))
    return out


def remove(obj: Any, path: Path) -> None:
    """Take the member at `path` out of `obj` (in place): a field, a map entry, a list item or set member."""
    if not path or not isinstance(obj, dict):
        return
    parent: Any = obj
    for i, element in enumerate(path):
        last = i == len(path) - 1
        kind, _, rest = element.partition(":")
        if kind == "f":
            if not isinstance(parent, dict) or rest not in parent:
                return
            if last:
                del parent[rest]
                return
            parent = parent[rest]
        elif kind in ("k", "v"):
            if not isinstance(parent, list):
                return
            if kind == "k":
                keys = json.loads(rest)
                matches = [j for j, item in enumerate(parent)
                           if isinstance(item, dict) and all(_key_value(item, k) == v for k, v in keys.items())]
            else:
                value = json.loads(rest)
                matches = [j for j, item in enumerate(parent) if item == value]
            if not matches:
                return
            if last:
                del parent[matches[0]]
                return
            parent = parent[matches[0]]
        else:
            return
