"""The page's actions, each one API call with the user's credentials, as kubectl makes it.

Called by server.py's POST /api/action; uses kubeapi.py. An API error comes back as the API's Status (so the
page prints `Error from server (Forbidden): ...`); a request the page should never send (an unknown action, a
replica count that is no integer) is a BadRequest Status made here, and nothing is sent to the API.

    scale      PATCH deployments/NAME/scale, merge patch {"spec":{"replicas":N}}     (kubectl scale)
    delete     DELETE pods/NAME                                                     (kubectl delete pod)
    cordon     PATCH nodes/NAME, strategic merge {"spec":{"unschedulable":true}}      (kubectl cordon)
    uncordon   the same with null: the field is omitempty, so kubectl's two-way merge patch removes it
    undo       kubectl rollout undo: the ReplicaSets the Deployment owns, the one with the previous
               revision (deployment.kubernetes.io/revision), its template without the pod-template-hash label,
               sent as a JSON patch that replaces spec.template and metadata.annotations (kubectl's
               DeploymentRollbacker; undo_patch below is its pure part)
"""
from __future__ import annotations

import copy
from typing import Any

from .kubeapi import ApiError, KubeApi, collection_path, object_path

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
# kubectl's annotationsToSkip: annotations of the Deployment that the rollback keeps as they are.
ANNOTATIONS_TO_SKIP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to"})
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def bad_request(message: str, code: int = 400, reason: str = "BadRequest") -> ApiError:
    return ApiError({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
                     "message": message}, local=True)


def revision_of(obj: dict[str, Any]) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def owned_by(rs: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid and ref.get("controller")
               for ref in (rs.get("metadata") or {}).get("ownerReferences") or [])


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return t


def undo_patch(deployment: dict[str, Any], replicasets: list[dict[str, Any]]) -> list[dict[str, Any]] | str:
    """The JSON patch that rolls `deployment` back to its previous revision, or the message kubectl prints when
    there is nothing to do ("skipped rollback ..."). Errors raise ApiError in kubectl's words."""
    md = deployment.get("metadata") or {}
    name = md.get("name", "")
    if (deployment.get("spec") or {}).get("paused"):
        raise bad_request("you cannot rollback a paused deployment; resume it first with "
                          f"'kubelab rollout resume deployment/{name}' and try again")
    by_rev = {revision_of(rs): rs for rs in replicasets if owned_by(rs, md.get("uid", "")) and revision_of(rs)}
    revs = sorted(by_rev)
    if len(revs) < 2:
        raise bad_request(f'no rollout history found for deployment "{name}"')
    target = by_rev[revs[-2]]
    template = _without_hash((target.get("spec") or {}).get("template") or {})
    if template == _without_hash((deployment.get("spec") or {}).get("template") or {}):
        return f"skipped rollback (current template already matches revision {revs[-2]})"
    annotations = {k: v for k, v in (md.get("annotations") or {}).items() if k in ANNOTATIONS_TO_SKIP}
    annotations.update({k: v for k, v in ((target.get("metadata") or {}).get("annotations") or {}).items()
                        if k not in ANNOTATIONS_TO_SKIP})
    return [{"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations}]


def _replicas(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise bad_request("replicas must be an integer")
    try:
        return int(value)
    except ValueError:
        raise bad_request(f'replicas must be an integer, not "{value}"') from None


async def perform(api: KubeApi, action: dict[str, Any]) -> str:
    """Run one action ({"action", "namespace", "name", ...}); returns what kubectl would print."""
    verb, ns, name = action.get("action"), str(action.get("namespace") or ""), str(action.get("name") or "")
    if not name:
        raise bad_request("a resource name is required")
    if verb == "scale":
        replicas = _replicas(action.get("replicas"))
        await api.request("PATCH", object_path("Deployment", ns, name, "scale"),
                          {"spec": {"replicas": replicas}}, MERGE)
        return f"deployment.apps/{name} scaled"
    if verb == "delete":
        await api.request("DELETE", object_path("Pod", ns, name))
        return f'pod "{name}" deleted'
    if verb in ("cordon", "uncordon"):
        await api.request("PATCH", object_path("Node", "", name),
                          {"spec": {"unschedulable": True if verb == "cordon" else None}}, STRATEGIC)
        return f"node/{name} {verb}ed"
    if verb == "undo":
        deployment = await api.request("GET", object_path("Deployment", ns, name))
        rss = await api.request("GET", collection_path("ReplicaSet", ns))
        patch = undo_patch(deployment, rss.get("items") or [])
        if isinstance(patch, str):
            return f"deployment.apps/{name} {patch}"
        await api.request("PATCH", object_path("Deployment", ns, name), patch, JSON_PATCH)
        return f"deployment.apps/{name} rolled back"
    raise bad_request(f'unknown action "{verb}"')
