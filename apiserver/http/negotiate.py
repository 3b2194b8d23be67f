"""Content negotiation: which representation a request's Accept header asks for, and what its body is.

Kubernetes names representations by media type plus parameters: `application/json;as=Table;g=meta.k8s.io;
v=v1` (server-side printing), `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`
(aggregated discovery). The first range of the Accept header this server can produce wins, as in
kube-apiserver's negotiation; protobuf and CBOR are not served, so clients that list JSON after them get
JSON, and a header that allows nothing servable is 406.
"""
from __future__ import annotations

from dataclasses import dataclass

from .status import NotAcceptable, UnsupportedMediaType

JSON, YAML, TABLE, DISCOVERY = "json", "yaml", "table", "discovery"

TABLE_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
DISCOVERY_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@dataclass(frozen=True)
class MediaRange:
    type: str                        # "application/json"
    params: dict[str, str]


def parse_accept(header: str) -> list[MediaRange]:
    out = []
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        params = {}
        for f in fields[1:]:
            k, _, v = f.partition("=")
            params[k.strip().lower()] = v.strip().strip('"')
        out.append(MediaRange(fields[0].lower(), params))
    return out


def _representation(r: MediaRange, allowed: tuple[str, ...]) -> str | None:
    if r.type not in ("application/json", "application/yaml", "application/*", "*/*"):
        return None
    as_, group, version = r.params.get("as"), r.params.get("g"), r.params.get("v")
    if as_ == "Table" and group == "meta.k8s.io" and version in ("v1", "v1beta1"):
        return TABLE if TABLE in allowed and r.type == "application/json" else None
    if as_ == "APIGroupDiscoveryList" and group == "apidiscovery.k8s.io" and version == "v2":
        return DISCOVERY if DISCOVERY in allowed and r.type == "application/json" else None
    if as_:
        return None                  # PartialObjectMetadata and other conversions are not served
    return YAML if r.type == "application/yaml" else JSON


def negotiate(accept: str, allowed: tuple[str, ...] = (JSON, YAML)) -> str:
    """The representation to answer with: JSON, YAML, TABLE or DISCOVERY (when in `allowed`)."""
    ranges = parse_accept(accept or "")
    if not ranges:
        return JSON
    for r in ranges:
        rep = _representation(r, allowed)
        if rep is not None:
            return rep
    raise NotAcceptable("only the following media types are accepted: application/json, application/yaml"
                        + (f", {TABLE_TYPE}" if TABLE in allowed else ""))


# Request bodies: an object (create, update) and the four patch types.
BODY_TYPES = {"application/json": "json", "application/yaml": "yaml",
              "application/vnd.kubernetes.protobuf": "protobuf"}
PATCH_TYPES = {"application/json-patch+json": "json", "application/merge-patch+json": "merge",
               "application/strategic-merge-patch+json": "strategic", "application/apply-patch+yaml": "apply"}


def body_type(content_type: str, patch: bool = False) -> str:
    """What a body is, from its Content-Type (parameters such as charset ignored); 415 when not served."""
    media = content_type.split(";")[0].strip().lower()
    table = PATCH_TYPES if patch else BODY_TYPES
    kind = table.get(media)
    if kind is None:
        raise UnsupportedMediaType(f'the body of the request was in an unknown format - accepted media types '
                                   f'include: {", ".join(table)}')
    return kind
