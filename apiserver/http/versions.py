"""The API versions the HTTP API serves beside a kind's storage version, and the conversions between them.

Sits in the HTTP front end under discovery, OpenAPI and the verb modules. kubelab.kinds names each kind's one
version, the one the Store keeps (policy/v1 for PodDisruptionBudgets); this module adds the other versions
Kubernetes served of a kind, as kube-apiserver serves several versions of one stored type through its
conversion functions:

    policy/v1beta1 PodDisruptionBudget   served by Kubernetes 1.21–1.24 beside policy/v1 (preferred), with
                                         the deprecation warning it sent; removed in 1.25

`SERVED` is every (kind, version) the HTTP API serves: discovery, OpenAPI and the URL routing read it. A URL of
an alternate version names a KindInfo whose `version` is that version (so lists, bookmarks, errors and
managedFields say `policy/v1beta1`); the object is converted to the storage version as its body is decoded
(`to_storage`) and back as it is written out (`from_storage`). Everything between (Store, registry, watch
cache, disruption checks) sees only the storage version.

The one semantic difference, as Kubernetes' pkg/apis/policy conversion has it: in policy/v1beta1 an empty
selector `{}` selects no pods, in policy/v1 every pod. The stored policy/v1 object keeps what the v1beta1 user
meant: a v1beta1 `{}` is stored as a selector no pod matches (`pdb.kubernetes.io/deprecated-v1beta1-empty-
selector-match` Exists), read back through v1beta1 as `{}`; a v1 `{}` is shown to a v1beta1 reader as the
selector every pod matches (that key DoesNotExist), which comes back to v1 as `{}`. Elsewhere that key is
stripped from a selector written in either version, so a user's selector never combines with it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, Callable

from kubelab import kinds

PDB_V1BETA1_LABEL = "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match"
_V1_MATCH_NONE = {"matchExpressions": [{"key": PDB_V1BETA1_LABEL, "operator": "Exists"}]}
_V1BETA1_MATCH_ALL = {"matchExpressions": [{"key": PDB_V1BETA1_LABEL, "operator": "DoesNotExist"}]}

Convert = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Version:
    info: kinds.KindInfo        # the kind as this version serves it (its `version` is this version)
    storage: kinds.KindInfo     # kubelab.kinds' entry: the version the Store keeps
    to_storage: Convert         # a body of this version -> the storage version's document
    from_storage: Convert       # the storage version's document -> this version's
    warning: str                # the Warning every request of this version is answered with ("" for none)


def _normal(selector: Any) -> Any:
    """A LabelSelector as apimachinery's Semantic.DeepEqual compares it (nil and empty maps and lists alike)."""
    if not isinstance(selector, dict):
        return selector
    out: dict[str, Any] = {}
    if selector.get("matchLabels"):
        out["matchLabels"] = selector["matchLabels"]
    exprs = selector.get("matchExpressions")
    if exprs:
        out["matchExpressions"] = [{k: v for k, v in e.items() if v not in (None, [])} if isinstance(e, dict)
                                   else e for e in exprs]
    return out


def _same(selector: Any, target: dict[str, Any]) -> bool:
    return _normal(selector) == _normal(target)


def _strip(selector: Any) -> Any:
    """policy.StripPDBV1beta1Label: the match-all/match-none key never combined with a user's requirements."""
    if isinstance(selector, dict) and isinstance(selector.get("matchExpressions"), list):
        kept = [e for e in selector["matchExpressions"]
                if not (isinstance(e, dict) and e.get("key") == PDB_V1BETA1_LABEL)]
        selector = {k: v for k, v in selector.items() if k != "matchExpressions"}
        if kept:
            selector["matchExpressions"] = kept
    return selector


def _with_selector(doc: dict[str, Any], convert: Callable[[Any], Any], api_version: str) -> dict[str, Any]:
    out = dict(doc, apiVersion=api_version)
    spec = doc.get("spec")
    if isinstance(spec, dict) and spec.get("selector") is not None:
        out["spec"] = dict(spec, selector=convert(copy.deepcopy(spec["selector"])))
    return out


def pdb_v1beta1_in(selector: Any) -> Any:
    """A v1beta1 selector as the stored v1 one (Convert_v1beta1_PodDisruptionBudget_To_policy_...)."""
    if _same(selector, {}):
        return copy.deepcopy(_V1_MATCH_NONE)
    if _same(selector, _V1BETA1_MATCH_ALL):
        return {}
    return _strip(selector)


def pdb_v1beta1_out(selector: Any) -> Any:
    """A stored v1 selector as v1beta1 shows it (Convert_policy_PodDisruptionBudget_To_v1beta1_...)."""
    if _same(selector, _V1_MATCH_NONE):
        return {}
    if _same(selector, {}):
        return copy.deepcopy(_V1BETA1_MATCH_ALL)
    return selector


def pdb_v1_in(selector: Any) -> Any:
    """A v1 selector as stored (Convert_v1_PodDisruptionBudget_To_policy_...): the two special selectors kept,
    the key stripped from any other."""
    if _same(selector, _V1_MATCH_NONE) or _same(selector, {}):
        return selector
    return _strip(selector)


_PDB = kinds.BY_KIND["PodDisruptionBudget"]
_PDB_V1BETA1 = replace(_PDB, version="v1beta1", accepted_versions=())

ALTERNATES: tuple[Version, ...] = (
    Version(_PDB_V1BETA1, _PDB,
            to_storage=lambda d: _with_selector(d, pdb_v1beta1_in, _PDB.api_version),
            from_storage=lambda d: _with_selector(d, pdb_v1beta1_out, _PDB_V1BETA1.api_version),
            warning="policy/v1beta1 PodDisruptionBudget is deprecated in v1.21+, unavailable in v1.25+; "
                    "use policy/v1 PodDisruptionBudget"),
)

# Inbound conversions of a storage version's own bodies (kube-apiserver converts those to its internal
# version too): a v1 PDB's selector loses the v1beta1 key.
_STORAGE_IN: dict[str, Convert] = {
    "PodDisruptionBudget": lambda d: _with_selector(d, pdb_v1_in, _PDB.api_version),
}

# Every kind and version the HTTP API serves, storage versions first (a group's first version is preferred).
SERVED: tuple[kinds.KindInfo, ...] = kinds.KINDS + tuple(v.info for v in ALTERNATES)
_BY_INFO: dict[tuple[str, str], Version] = {(v.info.api_version, v.info.kind): v for v in ALTERNATES}


def alternate(info: kinds.KindInfo) -> Version | None:
    """The alternate version `info` stands for, or None for a storage version."""
    return _BY_INFO.get((info.api_version, info.kind))


def to_storage(info: kinds.KindInfo, doc: dict[str, Any]) -> dict[str, Any]:
    """A decoded body of the version `info` serves, as the storage version's document."""
    version = alternate(info)
    if version is not None:
        return version.to_storage(doc)
    inbound = _STORAGE_IN.get(info.kind)
    return inbound(doc) if inbound is not None and doc.get("apiVersion") == info.api_version else doc


def from_storage(info: kinds.KindInfo, doc: dict[str, Any]) -> dict[str, Any]:
    """A stored object's wire document as the version `info` serves it."""
    version = alternate(info)
    return version.from_storage(doc) if version is not None else doc


def warning(info: kinds.KindInfo | None) -> str:
    """The deprecation warning of the version `info` serves ("" when it is not deprecated)."""
    version = alternate(info) if info is not None else None
    return version.warning if version is not None else ""
