"""API discovery documents, as kube-apiserver serves them, built from kubelab.kinds.

`kubelab proxy` (kubectl/proxy.py) answers the discovery URLs with these,
so a tutorial's `curl localhost:8001/`, `/api`, `/apis` or `/apis/apps/v1`
shows what kubelab serves in the shape Kubernetes prints:

    /                      {"paths": [...]}                 root_paths()
    /api                   APIVersions                      api_versions()
    /apis                  APIGroupList                     api_group_list()
    /apis/G                APIGroup (None: unknown)         api_group(group)
    /api/v1, /apis/G/V     APIResourceList (None: unknown)  api_resource_list(group, version)

`document(path)` picks one by URL path.

Only the version each kind is served as is listed: the older apiVersions a
manifest may still carry (KindInfo.accepted_versions) are converted on
apply, not served.
"""
from __future__ import annotations

from typing import Any

from kubectl.resources import ALL
from kubelab import kinds

# The other paths `kubelab proxy` serves besides discovery and objects.
EXTRA_PATHS = ("/healthz", "/version")


def _served() -> dict[str, list[str]]:
    """{group: [versions]} ("" is core), groups sorted, versions in registry order."""
    groups: dict[str, list[str]] = {}
    for info in kinds.KINDS:
        if info.version not in groups.setdefault(info.group, []):
            groups[info.group].append(info.version)
    return dict(sorted(groups.items()))


def _named_groups() -> dict[str, list[str]]:
    return {g: v for g, v in _served().items() if g}


def root_paths() -> dict[str, Any]:
    paths = ["/api", *(f"/api/{v}" for v in _served()[""]), "/apis", *EXTRA_PATHS]
    for group, versions in _named_groups().items():
        paths += [f"/apis/{group}", *(f"/apis/{group}/{v}" for v in versions)]
    return {"paths": sorted(paths)}


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": _served()[""],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    # The registry lists one version per kind, so the first is also the newest: kube prefers that one.
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(name, versions) for name, versions in _named_groups().items()]}


def api_group(name: str) -> dict[str, Any] | None:
    """One named group, or None when it is not served."""
    versions = _named_groups().get(name)
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)} if versions else None


def _resource(info: kinds.KindInfo) -> dict[str, Any]:
    res: dict[str, Any] = {"name": info.plural, "singularName": info.singular, "namespaced": info.namespaced,
                           "kind": info.kind, "verbs": list(kinds.VERBS)}
    if info.short_names:      # kube leaves out what is empty
        res["shortNames"] = list(info.short_names)
    if info.plural in ALL:
        res["categories"] = ["all"]
    return res


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """The resources of one group version (group "" is core), or None when it is not served."""
    infos = [i for i in kinds.KINDS if i.group == group and i.version == version]
    if not infos:
        return None
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [_resource(i) for i in sorted(infos, key=lambda i: i.plural)]}


def document(path: str, server_address: str) -> dict[str, Any] | None:
    """The discovery document a URL path names, or None when the path is not a served discovery URL."""
    segs = [s for s in path.split("/") if s]
    if not segs:
        return root_paths()
    if segs == ["api"]:
        return api_versions(server_address)
    if segs == ["apis"]:
        return api_group_list()
    if segs[0] == "apis" and len(segs) == 2:
        return api_group(segs[1])
    if segs[0] == "api" and len(segs) == 2:
        return api_resource_list("", segs[1])
    if segs[0] == "apis" and len(segs) == 3:
        return api_resource_list(segs[1], segs[2])
    return None
