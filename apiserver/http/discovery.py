"""Discovery, as kube-apiserver serves it, built from kubelab.kinds (the one registry of kinds).

    /api                 APIVersions            /apis            APIGroupList
    /api/v1, /apis/G/V   APIResourceList        /apis/G          APIGroup
    /api, /apis with Accept `...;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`: aggregated discovery
    (every group, version, resource and subresource in one answer: kubectl needs one round trip)
    /version             version.Info
"""
from __future__ import annotations

import platform
from typing import Any

import kubelab
from kubelab import kinds

from . import authn, authz
from .versions import SERVED

# The Kubernetes release whose API this one speaks (kubectl 1.37's skew policy accepts ±1 minor).
KUBE_MAJOR, KUBE_MINOR, KUBE_PATCH = "1", "37", "0"

WRITE_VERBS = ["get", "patch", "update"]

# Subresources per resource: (name, responding group, version, kind, verbs). Those of the streaming helper
# (log, exec, attach, portforward, proxy) are listed as Kubernetes lists them.
_SUBRESOURCES: dict[str, list[tuple[str, str, str, str, list[str]]]] = {
    "pods": [("attach", "", "v1", "PodAttachOptions", ["create", "get"]),
             ("binding", "", "v1", "Binding", ["create"]),
             ("eviction", "policy", "v1", "Eviction", ["create"]),
             ("exec", "", "v1", "PodExecOptions", ["create", "get"]),
             ("log", "", "v1", "Pod", ["get"]),
             ("portforward", "", "v1", "PodPortForwardOptions", ["create", "get"]),
             ("proxy", "", "v1", "PodProxyOptions", ["create", "delete", "get", "head", "options", "patch",
                                                       "put"])],
    "services": [("proxy", "", "v1", "ServiceProxyOptions", ["create", "delete", "get", "head", "options",
                                                               "patch", "put"])],
    "deployments": [("scale", "autoscaling", "v1", "Scale", WRITE_VERBS)],
    "replicasets": [("scale", "autoscaling", "v1", "Scale", WRITE_VERBS)],
    "namespaces": [("finalize", "", "v1", "Namespace", ["update"])],
    "serviceaccounts": [("token", "authentication.k8s.io", "v1", "TokenRequest", ["create"])],
}


def verbs(info: kinds.KindInfo) -> list[str]:
    return sorted({*kinds.VERBS, "deletecollection"})


def subresources(info: kinds.KindInfo) -> list[tuple[str, str, str, str, list[str]]]:
    subs = list(_SUBRESOURCES.get(info.plural, []))
    if info.has_status:
        subs.append(("status", info.group, info.version, info.kind, WRITE_VERBS))
    return sorted(subs)


def _served() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for info in SERVED:
        if info.version not in groups.setdefault(info.group, []):
            groups[info.group].append(info.version)
    return groups


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": _served()[""],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


# The groups whose one resource is a review answered for the requester (create only, nothing stored).
REVIEWS = (authn, authz)


def api_group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, v) for g, v in _served().items() if g] + [_group(r.GROUP, [r.VERSION])
                                                                             for r in REVIEWS]}


def api_group(name: str) -> dict[str, Any] | None:
    versions = _served().get(name) if name else None
    for r in REVIEWS:
        if name == r.GROUP:
            versions = [r.VERSION]
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)} if versions else None


def _resource(info: kinds.KindInfo) -> dict[str, Any]:
    res: dict[str, Any] = {"name": info.plural, "singularName": info.singular, "namespaced": info.namespaced,
                           "kind": info.kind, "verbs": verbs(info)}
    if info.short_names:
        res["shortNames"] = list(info.short_names)
    if info.plural in kinds.CATEGORY_ALL:
        res["categories"] = ["all"]
    return res


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    for r in REVIEWS:
        if (group, version) == (r.GROUP, r.VERSION):
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}",
                    "resources": [r.RESOURCE]}
    infos = sorted((i for i in SERVED if i.group == group and i.version == version), key=lambda i: i.plural)
    if not infos:
        return None
    out = []
    for info in infos:
        out.append(_resource(info))
        for name, g, v, kind, sub_verbs in subresources(info):
            sub: dict[str, Any] = {"name": f"{info.plural}/{name}", "singularName": "",
                                   "namespaced": info.namespaced, "kind": kind, "verbs": sub_verbs}
            if (g, v) != (info.group, info.version):
                sub.update(group=g, version=v)
            out.append(sub)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
            "resources": out}


def _discovery_resource(info: kinds.KindInfo) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular, "verbs": verbs(info)}
    if info.short_names:
        res["shortNames"] = list(info.short_names)
    if info.plural in kinds.CATEGORY_ALL:
        res["categories"] = ["all"]
    subs = [{"subresource": name, "responseKind": {"group": g, "version": v, "kind": kind}, "verbs": sub_verbs}
            for name, g, v, kind, sub_verbs in subresources(info)]
    if subs:
        res["subresources"] = subs
    return res


def aggregated(legacy: bool) -> dict[str, Any]:
    """apidiscovery.k8s.io/v2 APIGroupDiscoveryList: the core group (/api) or the named groups (/apis)."""
    items = []
    for group, versions in _served().items():
        if bool(group) == legacy:
            continue
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": [
            {"version": v, "freshness": "Current",
             "resources": [_discovery_resource(i) for i in sorted(SERVED, key=lambda i: i.plural)
                           if i.group == group and i.version == v]} for v in versions]})
    if not legacy:
        items += [r.discovery_group() for r in REVIEWS]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": items}


def root_paths() -> dict[str, Any]:
    paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version", "/openapi/v2",
             "/openapi/v3"]
    for group, versions in _served().items():
        if group:
            paths += [f"/apis/{group}", *(f"/apis/{group}/{v}" for v in versions)]
    for r in REVIEWS:
        paths += [f"/apis/{r.GROUP}", f"/apis/{r.GROUP}/{r.VERSION}"]
    return {"paths": sorted(paths)}


def version_info() -> dict[str, Any]:
    return {"major": KUBE_MAJOR, "minor": KUBE_MINOR, "emulationMajor": KUBE_MAJOR,
            "emulationMinor": KUBE_MINOR, "minCompatibilityMajor": KUBE_MAJOR,
            "minCompatibilityMinor": str(int(KUBE_MINOR) - 1),
            "gitVersion": f"v{KUBE_MAJOR}.{KUBE_MINOR}.{KUBE_PATCH}+kubelab-{kubelab.__version__}",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": f"python{platform.python_version()}",
            "compiler": "cpython", "platform": f"{platform.system().lower()}/{_arch()}"}


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
