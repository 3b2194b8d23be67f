"""What a request names, and its body decoded into an object, as kube-apiserver's RequestInfoFactory and
its decoders do.

    /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE...]]
    /apis/GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE...]]
    /api/v1/watch/..., /apis/G/V/watch/...          (the old watch form)

Bodies are JSON or YAML, turned into protos by kubelab.manifests (the same parsing the CLI's `apply -f`
uses), under the request's fieldValidation: Strict refuses unknown fields, Warn (the default) drops them
and says so in a Warning header, Ignore drops them silently.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml
from google.protobuf.message import Message

from kubelab import errors, kinds, manifests

from . import protobuf, versions
from .status import not_found_path

# Subresources of a namespace object, not namespaced paths (kube-apiserver's namespaceSubresources).
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass
class RequestInfo:
    group: str
    version: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    rest: list[str] = field(default_factory=list)      # what follows the subresource (proxy paths)
    watch_path: bool = False
    info: kinds.KindInfo | None = None

    @property
    def kind_info(self) -> kinds.KindInfo:
        assert self.info is not None
        return self.info


def _kind_for(group: str, version: str, resource: str) -> kinds.KindInfo | None:
    """The kind a URL's group, version and resource name, in that version (apiserver.http.versions)."""
    return next((k for k in versions.SERVED if k.plural == resource and k.group == group and k.version == version),
                None)


def parse_path(path: str) -> RequestInfo:
    """The resource a URL path names; NotFound for a path the API does not serve."""
    segs = [s for s in path.split("/") if s]
    if len(segs) >= 2 and segs[0] == "api":
        group, version, rest = "", segs[1], segs[2:]
    elif len(segs) >= 3 and segs[0] == "apis":
        group, version, rest = segs[1], segs[2], segs[3:]
    else:
        raise not_found_path()
    watch_path = bool(rest) and rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    if not rest:
        raise not_found_path()
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:                        # the namespace object itself (or its status/finalize)
            namespace = ""
            rest = ["namespaces", *rest[1:]]
    req = RequestInfo(group, version, rest[0], namespace, watch_path=watch_path)
    if len(rest) > 1:
        req.name = rest[1]
    if len(rest) > 2:
        req.subresource = rest[2]
        req.rest = rest[3:]
    req.info = _kind_for(group, version, req.resource)
    if req.info is None:
        raise not_found_path()
    if not req.info.namespaced and namespace:
        raise not_found_path()
    return req


def load_doc(body: bytes, media: str) -> Any:
    """A body's document (JSON, YAML or Kubernetes' protobuf); BadRequest in Kubernetes' words when it does not
    parse."""
    if media == "protobuf":
        return protobuf.decode(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise errors.BadRequest(f"invalid UTF-8 in request body at byte {e.start}") from None
    if media == "json":
        try:
            return json.loads(text)
        except RecursionError:
            raise errors.BadRequest("couldn't get version/kind; json parse error: exceeded max depth") from None
        except ValueError as e:
            raise errors.BadRequest(f"couldn't get version/kind; json parse error: {e}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise errors.BadRequest(f"error converting YAML to JSON: yaml: {getattr(e, 'problem', None) or e}") \
            from None
    except RecursionError:
        raise errors.BadRequest("error converting YAML to JSON: yaml: exceeded max depth") from None
    if len(docs) != 1:
        raise errors.BadRequest("error converting YAML to JSON: a request body must hold exactly one document")
    return docs[0]


def field_validation(query: Any) -> str:
    value = query.get("fieldValidation", "") or "Warn"
    if value not in ("Strict", "Warn", "Ignore"):
        raise errors.BadRequest(f'fieldValidation parameter unsupported: "{value}" (use Ignore, Warn or Strict)')
    return value


def dry_run(query: Any) -> bool:
    values = query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise errors.BadRequest(f'unsupported dryRun value "{v}": only "All" is supported')
    return bool(values)


def decode_object(doc: Any, req: RequestInfo, validation: str, warnings: list[str]) -> Message:
    """The object a create or update body holds, for the resource the URL names (400 otherwise)."""
    info = req.kind_info
    if not isinstance(doc, dict):
        raise errors.BadRequest(f"couldn't get version/kind; json parse error: cannot unmarshal "
                                f"{type(doc).__name__} into Go value of type struct")
    # Missing apiVersion and kind are the URL's (kube-apiserver decodes with the URL's as defaults). Another
    # version of the kind is refused too (policy/v1beta1 at a policy/v1 URL): the URL's version is the one
    # converted from (kubelab.kinds' accepted_versions are the CLI's reading of manifests, not the API's).
    api_version, kind = str(doc.get("apiVersion") or info.api_version), str(doc.get("kind") or info.kind)
    if api_version != info.api_version:
        raise errors.BadRequest(f"the API version in the data ({api_version}) does not match the expected API "
                                f"version ({info.api_version})")
    version = api_version.rsplit("/", 1)[-1] or info.version
    if kind != info.kind:
        raise errors.BadRequest(f'{kind} in version "{version}" cannot be handled as a {info.kind}: converting '
                                f'({version}.{kind}) to ({info.group or "core"}.{info.kind}): unknown conversion')
    doc = versions.to_storage(info, dict(doc, apiVersion=info.api_version, kind=info.kind))
    if validation != "Strict":
        for path in manifests.drop_unknown_fields(doc, info.message.DESCRIPTOR):
            if validation == "Warn":
                warnings.append(f'unknown field "{path}"')
    source = "<body>"
    try:
        return manifests.from_dict(doc, source)
    except manifests.ManifestError as e:
        detail = str(e).removeprefix(f"{source}: ")
        if detail.startswith("unknown field "):
            detail = "strict decoding error: " + detail.rsplit(" in ", 1)[0]
        raise errors.BadRequest(f'{kind} in version "{version}" cannot be handled as a {info.kind}: {detail}') \
            from None


def check_identity(obj: Message, req: RequestInfo, creating: bool) -> None:
    """The body's namespace and name against the URL's, in kube-apiserver's words."""
    md = obj.metadata  # type: ignore[attr-defined]
    info = req.kind_info
    if info.namespaced:
        if md.namespace and md.namespace != req.namespace:
            raise errors.BadRequest("the namespace of the provided object does not match the namespace sent on "
                                    "the request")
        md.namespace = req.namespace
    if not creating and md.name != req.name:
        raise errors.BadRequest(f"the name of the object ({md.name}) does not match the name on the URL "
                                f"({req.name})")
