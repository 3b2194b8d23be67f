"""Manifests: YAML/JSON documents <-> typed protos.

YAML manifests become protos through protobuf's JSON mapping, after one walk
of the message descriptor beside the data. The walk is strict where the JSON
mapping is lenient, as Kubernetes is: an unknown field, a string for an
integer (`replicas: "3"`), a float or an int32 overflow for an int-or-string
are errors naming the field path (`spec.containers[0].ports[0].containerPort`).
It also turns numbers in quantity maps into strings (`cpu: 1` as well as
`cpu: "250m"`). Int-or-string fields are google.protobuf.Value in the protos;
on the way out, whole numbers held as doubles are printed as integers again.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import yaml
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from kubelab import kinds

# Map fields whose values are quantities: numbers are allowed there.
_QUANTITY_MAPS = {"requests", "limits", "capacity", "allocatable"}


class ManifestError(ValueError):
    """A manifest that cannot become an object; the message says where."""


@dataclass
class Document:
    obj: Message
    source: str          # "file.yaml (document 2)"


_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_INT32 = _INT_RANGES[FieldDescriptor.TYPE_INT32]
_VALUE = "google.protobuf.Value"
_STRUCT = "google.protobuf.Struct"     # free-form JSON objects (managedFields' fieldsV1)


class _TypeError(Exception):
    """One value of the wrong JSON type, at a Kubernetes field path."""

    def __init__(self, path: str, value: Any, expected: str) -> None:
        super().__init__(f"{path}: Invalid value: {_shown(value)}: {expected}")


class _UnknownField(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _shown(value: Any) -> str:
    """A value as Kubernetes quotes it in `Invalid value: ...`; containers by their JSON type only,
    since they can be large (or, from YAML aliases, refer to themselves)."""
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def _whole(value: Any) -> int | None:
    """The integer a JSON number stands for; None for anything else (bools, strings, 1.5).

    An integral float is a whole number: YAML `3.0`, and what JSON tools emit, reach
    Kubernetes as `3` too (kubectl converts YAML through float64)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


@lru_cache(maxsize=None)
def _fields(desc: Descriptor) -> dict[str, FieldDescriptor]:
    # The JSON (Kubernetes) names only: ParseDict would also take the proto name (`node_name`), which no
    # Kubernetes manifest has and kube-apiserver refuses as an unknown field.
    return {f.json_name: f for f in desc.fields}


def _checked_message(data: Any, desc: Descriptor, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _TypeError(path, data, "expected an object")
    fields = _fields(desc)
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = fields.get(key) if isinstance(key, str) else None
        where = f"{path}.{key}" if path else str(key)
        if field is None:
            raise _UnknownField(where)
        out[key] = _checked_field(value, field, where)
    return out


def _checked_field(value: Any, field: FieldDescriptor, path: str) -> Any:
    if value is None:       # JSON null: the field is left unset
        return None
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        if not isinstance(value, dict):
            raise _TypeError(path, value, "expected an object")
        val_field = entry.fields_by_name["value"]
        quantities = field.json_name in _QUANTITY_MAPS
        out = {}
        for k, v in value.items():
            where = f"{path}[{k}]"
            if not isinstance(k, str):
                raise _TypeError(where, k, "expected a string key")
            if quantities and isinstance(v, (int, float)) and not isinstance(v, bool):
                v = _num_str(v)     # `cpu: 1` and `cpu: 0.5` are quantities too
            out[k] = _checked_field(v, val_field, where)
        return out
    if field.is_repeated:
        if not isinstance(value, list):
            raise _TypeError(path, value, "expected an array")
        return [_checked_single(v, field, f"{path}[{i}]") for i, v in enumerate(value)]
    return _checked_single(value, field, path)


def _checked_single(value: Any, field: FieldDescriptor, path: str) -> Any:
    """One value of a field (an element, for a list), refused unless it has the field's JSON type:
    protobuf's JSON mapping would take `"80"`, `"1e2"` and `"true"`, Kubernetes does not."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name == _VALUE:
            return _checked_int_or_string(value, path)
        if field.message_type.full_name == _STRUCT:
            if not isinstance(value, dict):
                raise _TypeError(path, value, "expected an object")
            return value
        return _checked_message(value, field.message_type, path)
    if field.type in _INT_RANGES:
        number = _whole(value)
        if number is None:
            raise _TypeError(path, value, "expected an integer")
        low, high = _INT_RANGES[field.type]
        if not low <= number <= high:
            raise _TypeError(path, value, f"must be between {low} and {high}, inclusive")
        return number
    if field.type == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            raise _TypeError(path, value, "expected a boolean")
        return value
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _TypeError(path, value, "expected a number")
        return value
    if field.type == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            raise _TypeError(path, value, "expected a string")
        return value
    return value            # enums and bytes: none in our protos; protobuf checks them


def _checked_int_or_string(value: Any, path: str) -> Any:
    """Kubernetes' IntOrString: an int32 or a string, nothing else (google.protobuf.Value holds any JSON)."""
    if isinstance(value, str):
        return value
    number = _whole(value)
    if number is None:
        raise _TypeError(path, value, "expected an integer or a string")
    if not _INT32[0] <= number <= _INT32[1]:
        raise _TypeError(path, value, f"must be between {_INT32[0]} and {_INT32[1]}, inclusive")
    return number


def _num_str(v: int | float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


def _checked(data: dict[str, Any], desc: Descriptor, kind: str, source: str) -> dict[str, Any]:
    """`data` with every value of its field's JSON type (quantities as strings), or a ManifestError
    naming the field path (`spec.containers[0].ports[0].containerPort`)."""
    try:
        return _checked_message(data, desc, "")
    except _UnknownField as e:
        raise ManifestError(f'{source}: unknown field "{e.path}" in {kind}') from None
    except _TypeError as e:
        raise ManifestError(f"{source}: invalid {kind}: {e}") from None


def drop_unknown_fields(data: dict[str, Any], desc: Descriptor) -> list[str]:
    """Remove from `data` (in place) every field `desc` does not have; return their paths, as Kubernetes'
    fieldValidation=Warn|Ignore drops them (`spec.replicaz`, `spec.template.spec.containers[0].imagee`)."""
    dropped: list[str] = []

    def walk(value: Any, d: Descriptor, path: str) -> None:
        if not isinstance(value, dict):
            return
        fields = _fields(d)
        for key in list(value):
            field = fields.get(key) if isinstance(key, str) else None
            where = f"{path}.{key}" if path else str(key)
            if field is None:
                dropped.append(where)
                del value[key]
            elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.full_name not in (_VALUE, _STRUCT):
                entry = field.message_type
                if entry.GetOptions().map_entry:
                    val = entry.fields_by_name["value"]
                    if val.type == FieldDescriptor.TYPE_MESSAGE and isinstance(value[key], dict):
                        for k, v in value[key].items():
                            walk(v, val.message_type, f"{where}[{k}]")
                elif field.is_repeated and isinstance(value[key], list):
                    for i, v in enumerate(value[key]):
                        walk(v, entry, f"{where}[{i}]")
                else:
                    walk(value[key], entry, where)
    walk(data, desc, "")
    return dropped


def from_dict(data: Any, source: str = "<input>") -> Message:
    """Turn one manifest dict into its typed proto, checking apiVersion/kind."""
    if not isinstance(data, dict):
        raise ManifestError(f"{source}: a manifest must be a mapping, got {type(data).__name__}")
    api_version, kind = data.get("apiVersion"), data.get("kind")
    if not kind:
        raise ManifestError(f"{source}: Object 'Kind' is missing")
    if not api_version:
        raise ManifestError(f"{source}: Object 'apiVersion' is missing")
    try:
        info = kinds.for_manifest(str(api_version), str(kind))
    except kinds.UnknownKind as e:
        raise ManifestError(f"{source}: {e}") from None
    msg = info.message()
    checked = _checked(data, msg.DESCRIPTOR, kind, source)
    try:
        json_format.ParseDict(checked, msg)
    except json_format.ParseError as e:     # what _checked lets through (nothing, as far as we know)
        raise ManifestError(f"{source}: invalid {kind}: {e}") from None
    # Store the canonical version (policy/v1beta1 is read as policy/v1).
    msg.api_version = info.api_version  # type: ignore[attr-defined]
    return msg


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def to_dict(obj: Message) -> dict[str, Any]:
    """The Kubernetes JSON form of an object (camelCase, defaults omitted)."""
    d = json_format.MessageToDict(obj)
    info = kinds.info_of(obj)
    out: dict[str, Any] = {"apiVersion": info.api_version, "kind": info.kind}
    out.update(_integral(d))
    out["apiVersion"], out["kind"] = info.api_version, info.kind
    return out


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=4, ensure_ascii=False)


# A UTF-16 surrogate: JSON spells a character outside the BMP as an escaped pair (`"\ud83d\ude00"` is 😀),
# which PyYAML reads as two lone surrogates and Python then refuses to encode ("surrogates not allowed").
_SURROGATE = re.compile("[\ud800-\udfff]")


def _paired(text: str) -> str:
    """`text` with its surrogate pairs joined into the characters they spell; an unpaired one becomes U+FFFD,
    as Go's encoding/json (so kubectl) reads it."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class _StrictLoader(yaml.SafeLoader):
    """YAML as kubectl reads a manifest (sigs.k8s.io/yaml, strict): a key given twice in one mapping is an
    error, not the last one winning (`kind: Pod` then `kind: Service` made a Service); escaped surrogate
    pairs are characters."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            # Keys a merge (`<<: *base`) brings in may be overridden; only the mapping's own keys may not repeat.
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f'mapping key "{key}" already defined at line {seen[key]}', key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]

    def construct_yaml_str(self, node: yaml.ScalarNode) -> str:
        return _paired(str(self.construct_scalar(node)))


_StrictLoader.add_constructor("tag:yaml.org,2002:str", _StrictLoader.construct_yaml_str)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ManifestError(f'duplicate field "{key}"')
        out[key] = value
    return out


def _paired_all(doc: Any) -> Any:
    """`doc` with every string's lone surrogates mended (iterative: JSON may nest deep)."""
    root = [doc]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        value = parent[key]
        if isinstance(value, str):
            parent[key] = _paired(value)
        elif isinstance(value, list):
            stack.extend((value, i) for i in range(len(value)))
        elif isinstance(value, dict):
            for k in list(value):
                if isinstance(k, str) and _SURROGATE.search(k):
                    value[_paired(k)] = value.pop(k)
            stack.extend((value, k) for k in value)
    return root[0]


def loads_json(data: str | bytes) -> Any:
    """JSON as kube-apiserver's strict decoding reads it: a key given twice in one object is a ManifestError
    (`duplicate field "kind"`); an unpaired surrogate escape reads as U+FFFD, not as a string Python cannot
    encode. json.JSONDecodeError (a ValueError) for what is not JSON."""
    doc = json.loads(data, object_pairs_hook=_unique_pairs)
    raw = data if isinstance(data, str) else data.decode("utf-8", "replace")
    return _paired_all(doc) if "\\u" in raw else doc


def loads_yaml(text: str) -> Any:
    """One YAML (or JSON) document as kubectl reads it strictly: a key given twice is a yaml.YAMLError
    (`mapping key "x" already defined at line N`), surrogate pairs are characters."""
    return yaml.load(text, Loader=_StrictLoader)


def parse_text(text: str, source: str) -> list[Document]:
    """All documents of a YAML (or JSON) stream; a `List` is flattened."""
    try:
        raw = list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ManifestError(f"{source}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        # PyYAML composes recursively: `a: [[[[...` a few thousand deep exhausts the stack.
        raise ManifestError(f"{source}: invalid YAML: nested too deeply") from None
    docs: list[Document] = []
    for i, data in enumerate(raw, start=1):
        if data is None:
            continue
        where = f"{source} (document {i})" if len(raw) > 1 else source
        if isinstance(data, dict) and data.get("kind") == "List" and isinstance(data.get("items"), list):
            docs += [Document(from_dict(item, f"{where} item {j}"), f"{where} item {j}")
                     for j, item in enumerate(data["items"], start=1)]
        else:
            docs.append(Document(from_dict(data, where), where))
    return docs


def _files(path: Path, recursive: bool) -> Iterator[Path]:
    if path.is_dir():
        pattern = "**/*" if recursive else "*"
        yield from sorted(p for p in path.glob(pattern)
                          if p.is_file() and p.suffix in (".yaml", ".yml", ".json"))
    else:
        yield path


def _read(read: Callable[[], str], source: str) -> str:
    """The text of a manifest source; a binary file or an unreadable one is a ManifestError naming it."""
    try:
        return read()
    except UnicodeDecodeError as e:
        raise ManifestError(f"{source}: invalid UTF-8 at byte {e.start}") from None
    except OSError as e:
        raise ManifestError(f"{source}: {e.strerror}") from None


def load(paths: Iterable[str], recursive: bool = False) -> list[Document]:
    """Load manifests from files, directories and `-` (stdin)."""
    docs: list[Document] = []
    for p in paths:
        if p == "-":
            # The bytes, decoded strictly: the text layer may smuggle bad bytes in as surrogates.
            docs += parse_text(_read(lambda: sys.stdin.buffer.read().decode("utf-8"), "<stdin>"), "<stdin>")
            continue
        path = Path(p)
        if not path.exists():
            raise ManifestError(f'the path "{p}" does not exist')
        for f in _files(path, recursive):
            docs += parse_text(_read(lambda: f.read_text(encoding="utf-8"), str(f)), str(f))
    if not docs:
        raise ManifestError("no objects passed to apply")
    return docs
