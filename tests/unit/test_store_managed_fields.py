"""The Store's side of field management, on the in-memory storage: which writes record managedFields, that
writes naming no manager (the components' gRPC writes) keep the entries, that an unchanged apply is no write,
and server-side apply's conflict as the HTTP and gRPC APIs raise it."""
from __future__ import annotations

import json
from typing import Any

import pytest

from apiserver import fieldmanager
from apiserver.memstorage import MemoryStorage
from apiserver.store import Store
from kubelab import manifests


def deployment(replicas: int = 2, image: str = "nginx:1.25") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


@pytest.fixture
async def store() -> Store:
    s = Store(MemoryStorage())
    await s.create(manifests.from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}))
    return s


def managers(obj: Any) -> list[tuple[str, str, str]]:
    return [(m.manager, m.operation, m.subresource) for m in obj.metadata.managed_fields]


async def apply(store: Store, doc: dict[str, Any], manager: str = "kubectl", force: bool = False) -> Any:
    return await store.patch("Deployment", "default", "web", "server-side-apply", json.dumps(doc).encode(),
                             field_manager=manager, force=force)


async def test_writes_naming_a_manager_record_it_and_others_keep_what_they_find(store: Store) -> None:
    created = await store.create(manifests.from_dict(deployment()), field_manager="creator")
    assert managers(created) == [("creator", "Update", "")]
    # A component's update names no manager and sends no entries: the entries stay as they were.
    fresh = manifests.from_dict(deployment(replicas=3))
    fresh.metadata.resource_version = created.metadata.resource_version
    updated = await store.update(fresh)
    assert managers(updated) == [("creator", "Update", "")] and updated.spec.replicas == 3
    # The scale subresource's writer gets its own entry, replicas taken from the creator.
    scaled = await store.patch("Deployment", "default", "web", "merge", b'{"spec": {"replicas": 5}}',
                               subresource="scale", field_manager="scaler")
    assert managers(scaled) == [("creator", "Update", ""), ("scaler", "Update", "scale")]
    again = await store.get("Deployment", "default", "web")            # and what etcd holds says the same
    assert manifests.to_dict(again)["metadata"]["managedFields"] == manifests.to_dict(scaled)["metadata"][
        "managedFields"]


async def test_apply_conflicts_then_forces_and_an_unchanged_apply_writes_nothing(store: Store) -> None:
    await store.create(manifests.from_dict(deployment()), field_manager="creator")
    with pytest.raises(fieldmanager.Conflicts, match='conflict with "creator" using apps/v1: .spec.replicas'):
        await apply(store, deployment(replicas=4))
    applied = await apply(store, deployment(replicas=4), force=True)
    assert applied.spec.replicas == 4 and managers(applied)[0] == ("kubectl", "Apply", "")
    same = await apply(store, deployment(replicas=4))
    assert same.metadata.resource_version == applied.metadata.resource_version


async def test_server_side_apply_without_a_manager_is_refused(store: Store) -> None:
    await store.create(manifests.from_dict(deployment()))
    with pytest.raises(fieldmanager.errors.Invalid, match="fieldManager: Required value"):
        await apply(store, deployment(), manager="")
