"""Server-side printing: `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` answers a meta.k8s.io/v1
Table whose columns and cells are kubelab.tables' (the ones `kubelab get` prints), so `kubectl get` shows
the same columns. The `-o wide` columns carry `priority: 1` (kubectl hides them unless asked). Each row
holds the object's metadata as a PartialObjectMetadata (`includeObject=Metadata`, the default), the whole
object (`Object`) or nothing (`None`): kubectl reads namespace and labels from it (-A, --show-labels).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from kubelab import errors, kinds, tables

from .negotiate import TABLE_TYPE
from .serialize import dumps, metadata_wire, to_wire

_DESCRIPTIONS = {"NAME": "Name must be unique within a namespace. More info: "
                         "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
                 "AGE": "CreationTimestamp is a timestamp representing the server time when this object was "
                        "created."}

_NAMES = {"ADDRESSTYPE": "AddressType"}      # one word in the header, two in Kubernetes' column name


def column_name(header: str) -> str:
    """`NOMINATED NODE` -> `Nominated Node`, `CLUSTER-IP` -> `Cluster-IP`: Kubernetes' column names (kubectl
    prints them upper-cased)."""
    if header in _NAMES:
        return _NAMES[header]
    return "-".join(" ".join(w.title() if w not in ("IP", "IPS") else w for w in part.split(" "))
                    for part in header.split("-"))


def columns(kind: str) -> list[tuple[str, int]]:
    """(header, priority) of every column of a kind, the -o wide ones at priority 1."""
    td = tables.table_def(kind)
    wide = list(tables.EVENT_WIDE) if kind == "Event" else [*td.headers, *td.wide]
    return [(h, 0 if h in td.headers else 1) for h in wide]


def column_definitions(kind: str) -> list[dict[str, Any]]:
    return [{"name": column_name(h), "type": "string", "format": "name" if h == "NAME" else "",
             "description": _DESCRIPTIONS.get(h, column_name(h)), "priority": p} for h, p in columns(kind)]


def include_object(query: Any) -> str:
    value = query.get("includeObject", "") or "Metadata"
    if value not in ("None", "Metadata", "Object"):
        raise errors.BadRequest(f'includeObject "{value}" is not supported: use None, Metadata or Object')
    return value


def _row_object(obj: Any, include: str, served: kinds.KindInfo | None) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return to_wire(obj, served)
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata_wire(obj)}


def row(obj: Any, include: str, at: datetime, served: kinds.KindInfo | None = None) -> dict[str, Any]:
    kind = kinds.info_of(obj).kind
    out: dict[str, Any] = {"cells": tables.table_def(kind).row(obj, True, at)}
    ro = _row_object(obj, include, served)
    if ro is not None:
        out["object"] = ro
    return out


def table(info: kinds.KindInfo, objs: list[Any], resource_version: str, continue_token: str, include: str,
          with_columns: bool = True) -> dict[str, Any]:
    at = datetime.now(timezone.utc)
    meta: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": column_definitions(info.kind) if with_columns else [],
            "rows": [row(o, include, at, info) for o in objs]}


def respond_table(request: web.Request, info: kinds.KindInfo, objs: list[Any], resource_version: str,
                  continue_token: str) -> web.Response:
    doc = table(info, objs, resource_version, continue_token, include_object(request.query))
    resp = web.Response(body=dumps(doc))
    resp.headers["Content-Type"] = TABLE_TYPE
    return resp
