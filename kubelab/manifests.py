"""Manifests: YAML/JSON documents <-> typed protos.

YAML manifests become protos through protobuf's JSON mapping, strictly (an
unknown field is an error naming it), after one normalising step for
Kubernetes' quantities (`cpu: 1` as well as `cpu: "250m"`). Int-or-string
fields are google.protobuf.Value in the protos, so they parse as they are;
on the way out, whole numbers held as doubles are printed as integers again.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml
from google.protobuf import json_format
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


def _normalise_quantities(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        if key in _QUANTITY_MAPS:
            return {k: (_num_str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                    for k, v in value.items()}
        return {k: _normalise_quantities(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_quantities(v, key) for v in value]
    return value


def _num_str(v: int | float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


_UNKNOWN_FIELD = re.compile(r'has no field named "([^"]+)" at "([^"]+)"')
_FAILED_FIELD = re.compile(r"Failed to parse (\w+) field: ")


def _describe_parse_error(err: json_format.ParseError, kind: str) -> str:
    text = str(err)
    m = _UNKNOWN_FIELD.search(text)
    if m:
        field, at = m.group(1), m.group(2)
        path = at.split(".", 1)[1] if "." in at else ""
        where = f"{path}.{field}" if path else field
        return f'unknown field "{where}" in {kind}'
    # Type errors: keep protobuf's detail but drop its nesting noise.
    detail = _FAILED_FIELD.sub("", text).strip()
    return f"invalid {kind}: {detail}"


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
    try:
        json_format.ParseDict(_normalise_quantities(data), msg)
    except json_format.ParseError as e:
        raise ManifestError(f"{source}: {_describe_parse_error(e, kind)}") from None
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


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=4, ensure_ascii=False)


def parse_text(text: str, source: str) -> list[Document]:
    """All documents of a YAML (or JSON) stream; a `List` is flattened."""
    try:
        raw = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ManifestError(f"{source}: invalid YAML{where}: {problem}") from None
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


def load(paths: Iterable[str], recursive: bool = False) -> list[Document]:
    """Load manifests from files, directories and `-` (stdin)."""
    docs: list[Document] = []
    for p in paths:
        if p == "-":
            docs += parse_text(sys.stdin.read(), "<stdin>")
            continue
        path = Path(p)
        if not path.exists():
            raise ManifestError(f'the path "{p}" does not exist')
        for f in _files(path, recursive):
            docs += parse_text(f.read_text(encoding="utf-8"), str(f))
    if not docs:
        raise ManifestError("no objects passed to apply")
    return docs
