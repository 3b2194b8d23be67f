"""Test harness: `FakeClient`, a `kubelab.client.Client` over a dict of objects, for unit tests without an
apiserver (the controllers' harness, the kubelet's pod worker and status writes, the scheduler, the CLI), and
`FakeRecorder`, an `EventRecorder` that keeps the Events in a list instead of writing them.

It keeps what the components rely on of the apiserver: uids, resourceVersions (a write with a stale one is a
Conflict), generateName, status and finalize subresources, generation bumps, strategic/merge/JSON patches,
graceful pod deletion and finalizers, and binding. Objects given to the constructor are stored as they are,
resourceVersion included (the next write is one past the highest); `put` stores one as if it had been created.
Every write is logged in `actions`; `refusals` queues the errors a verb raises next. A subclass of the real
client (and recorder), so a signature that drifts from the real one is a type error.
"""
from __future__ import annotations

import json
import random
import uuid
from typing import Any, Callable

from kubelab import errors, kinds, manifests, patch as patching, timeutil
from kubelab.client import Client
from kubelab.events import EventRecorder


class FakeClient(Client):
    """Just enough of kubelab.client.Client, in memory (see the module's doc)."""

    def __init__(self, *objects: Any, clock: Callable[[], float] | None = None) -> None:  # no channel
        self.namespace, self.field_manager, self.pipeline = "default", "", None
        self.objects: dict[tuple[str, str, str], Any] = {}
        self.rv = 0
        self.clock = clock or timeutil.FakeClock()
        self.actions: list[tuple[str, str, str]] = []         # (verb, kind, namespace/name)
        self.refusals: dict[str, list[errors.ApiError]] = {}  # verb -> errors its next calls raise, in order
        self.status_writes: list[Any] = []                    # each object update_status wrote
        self.deletes: list[tuple[str, int | None, str]] = []  # (name, grace period, precondition uid)
        self.binds: list[tuple[str, str, str]] = []           # (namespace/name, node, uid)
        self.bind_annotations: list[dict[str, str]] = []
        for obj in objects:
            obj = self._copy(obj)
            self.rv = max(self.rv, int(obj.metadata.resource_version or "0"))
            self.objects[self._key(kinds.info_of(obj).kind, obj.metadata.namespace, obj.metadata.name)] = obj

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _key(kind: str, namespace: str | None, name: str) -> tuple[str, str, str]:
        return (kind, (namespace or "default") if kinds.BY_KIND[kind].namespaced else "", name)

    @staticmethod
    def _copy(obj: Any) -> Any:
        out = type(obj)()
        out.CopyFrom(obj)
        return out

    def _bump(self, obj: Any) -> Any:
        self.rv += 1
        obj.metadata.resource_version = str(self.rv)
        self.objects[self._key(kinds.info_of(obj).kind, obj.metadata.namespace, obj.metadata.name)] = self._copy(obj)
        return obj

    def _refuse(self, verb: str) -> None:
        queued = self.refusals.get(verb)
        if queued:
            raise queued.pop(0)

    def put(self, obj: Any) -> Any:
        """Store an object as if it had been created (uid, timestamps, a new resourceVersion), bypassing
        actions."""
        obj = self._copy(obj)
        info = kinds.info_of(obj)
        obj.api_version, obj.kind = info.api_version, info.kind
        if info.namespaced and not obj.metadata.namespace:
            obj.metadata.namespace = "default"
        obj.metadata.uid = obj.metadata.uid or str(uuid.uuid4())
        obj.metadata.creation_timestamp = obj.metadata.creation_timestamp or timeutil.fmt(self.clock())
        if info.kind in ("Deployment", "ReplicaSet", "PodDisruptionBudget") and not obj.metadata.generation:
            obj.metadata.generation = 1
        return self._bump(obj)

    def stored(self, kind: str, name: str, namespace: str = "default") -> Any | None:
        return self.objects.get(self._key(kind, namespace, name))

    def all(self, kind: str) -> list[Any]:
        return [o for (k, _, _), o in self.objects.items() if k == kind]

    # -------------------------------------------------------------- verbs
    async def get(self, kind: str, name: str, namespace: str | None = None) -> Any:
        obj = self.objects.get(self._key(kind, namespace, name))
        if obj is None:
            raise errors.NotFound(f'{kinds.BY_KIND[kind].plural} "{name}" not found')
        return self._copy(obj)

    async def list(self, kind: str, namespace: str | None = None, label_selector: str = "",
                   field_selector: str = "", limit: int = 0) -> tuple[list[Any], str]:
        items = [self._copy(o) for (k, ns, _), o in self.objects.items()
                 if k == kind and (not namespace or ns == namespace)]
        return items, str(self.rv)

    async def create(self, obj: Any, dry_run: bool = False) -> Any:
        self._refuse("create")
        obj = self._copy(obj)
        info = kinds.info_of(obj)
        if info.namespaced and not obj.metadata.namespace:
            obj.metadata.namespace = "default"
        if not obj.metadata.name:
            # A generated name that is taken is generated again, as the Store does (8 tries): 1,000 pods from
            # 27^5 suffixes clash in about 3% of runs.
            for _ in range(8):
                obj.metadata.name = obj.metadata.generate_name + "".join(
                    random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
                if self._key(info.kind, obj.metadata.namespace, obj.metadata.name) not in self.objects:
                    break
        if self._key(info.kind, obj.metadata.namespace, obj.metadata.name) in self.objects:
            raise errors.AlreadyExists(f'{info.plural} "{obj.metadata.name}" already exists')
        self.actions.append(("create", info.kind, kinds.key_of(obj)))
        return self.put(obj)

    async def _replace(self, obj: Any, subresource: str) -> Any:
        info = kinds.info_of(obj)
        key = self._key(info.kind, obj.metadata.namespace, obj.metadata.name)
        old = self.objects.get(key)
        if old is None:
            raise errors.NotFound(f'{info.plural} "{obj.metadata.name}" not found')
        if obj.metadata.resource_version and obj.metadata.resource_version != old.metadata.resource_version:
            raise errors.Conflict(f'Operation cannot be fulfilled on {info.plural} "{obj.metadata.name}"')
        new = self._copy(old)
        if subresource == "status":
            new.status.CopyFrom(obj.status)
        elif subresource == "finalize":
            del new.spec.finalizers[:]
            new.spec.finalizers.extend(obj.spec.finalizers)
        else:
            status_copy = self._copy(old.status) if info.has_status else None
            new = self._copy(obj)
            if status_copy is not None:
                new.status.CopyFrom(status_copy)
            if hasattr(new, "spec") and info.kind in ("Deployment", "ReplicaSet", "PodDisruptionBudget") \
                    and new.spec != old.spec:
                new.metadata.generation = old.metadata.generation + 1
            new.metadata.uid, new.metadata.deletion_timestamp = old.metadata.uid, old.metadata.deletion_timestamp
            if info.kind == "Namespace":           # as the apiserver: only finalize changes them
                del new.spec.finalizers[:]
                new.spec.finalizers.extend(old.spec.finalizers)
        if new.metadata.deletion_timestamp and not new.metadata.finalizers and not (
                info.kind == "Namespace" and new.spec.finalizers):
            del self.objects[key]
            return new
        return self._bump(new)

    async def update(self, obj: Any, dry_run: bool = False) -> Any:
        self._refuse("update")
        self.actions.append(("update", kinds.info_of(obj).kind, kinds.key_of(obj)))
        return await self._replace(obj, "")

    async def update_status(self, obj: Any) -> Any:
        self._refuse("update_status")
        self.actions.append(("update_status", kinds.info_of(obj).kind, kinds.key_of(obj)))
        written = await self._replace(obj, "status")
        self.status_writes.append(self._copy(written))
        return written

    async def finalize(self, namespace: Any) -> Any:
        self._refuse("finalize")
        self.actions.append(("finalize", kinds.info_of(namespace).kind, kinds.key_of(namespace)))
        return await self._replace(namespace, "finalize")

    async def patch(self, kind: str, name: str, patch: dict[str, Any] | str, namespace: str | None = None,
                    patch_type: str = "strategic", subresource: str = "", dry_run: bool = False) -> Any:
        self._refuse("patch")
        live = await self.get(kind, name, namespace)
        doc = json.loads(patch) if isinstance(patch, str) else patch
        apply = {"json": patching.json_patch, "merge": patching.merge_patch}.get(patch_type,
                                                                              patching.strategic_merge)
        new = manifests.from_dict(apply(manifests.to_dict(live), doc))
        if new.metadata.uid != live.metadata.uid:
            raise errors.Invalid("metadata.uid: field is immutable")
        new.metadata.resource_version = live.metadata.resource_version
        self.actions.append(("patch", kind, kinds.key_of(live)))
        return await self._replace(new, subresource)

    async def delete(self, kind: str, name: str, namespace: str | None = None,
                     grace_period_seconds: int | None = None, propagation_policy: str = "",
                     precondition_uid: str = "", precondition_resource_version: str = "",
                     dry_run: bool = False) -> Any:
        self._refuse("delete")
        self.deletes.append((name, grace_period_seconds, precondition_uid))
        key = self._key(kind, namespace, name)
        obj = self.objects.get(key)
        if obj is None:
            raise errors.NotFound(f'{kinds.BY_KIND[kind].plural} "{name}" not found')
        if precondition_uid and precondition_uid != obj.metadata.uid:
            raise errors.Conflict("Precondition failed: UID")
        self.actions.append(("delete", kind, kinds.key_of(obj)))
        obj = self._copy(obj)
        fin = list(obj.metadata.finalizers)
        if propagation_policy == "Foreground" and "foregroundDeletion" not in fin:
            fin.append("foregroundDeletion")
        if propagation_policy == "Orphan" and "orphan" not in fin:
            fin.append("orphan")
        graceful = kind == "Pod" and obj.spec.node_name and grace_period_seconds != 0
        if fin or graceful:
            obj.metadata.deletion_timestamp = obj.metadata.deletion_timestamp or timeutil.fmt(self.clock())
            del obj.metadata.finalizers[:]
            obj.metadata.finalizers.extend(fin)
            return self._bump(obj)
        del self.objects[key]
        return obj

    async def bind(self, namespace: str, name: str, node_name: str, uid: str = "",
                   annotations: dict[str, str] | None = None) -> Any:
        """As the apiserver's pods/binding: the pod's node set, unless the uid differs or it has one."""
        self._refuse("bind")
        pod = await self.get("Pod", name, namespace)
        if uid and pod.metadata.uid != uid:
            raise errors.Conflict(f"Precondition failed: UID in precondition: {uid}")
        if pod.spec.node_name:
            raise errors.Conflict(f'pod {name} is already assigned to node "{pod.spec.node_name}"')
        self.binds.append((f"{namespace}/{name}", node_name, uid))
        self.bind_annotations.append(dict(annotations or {}))
        self.actions.append(("bind", "Pod", f"{namespace}/{name}"))
        pod.spec.node_name = node_name
        return self._bump(pod)

    async def close(self) -> None:
        pass


class FakeRecorder(EventRecorder):
    """Events as (reason, message) in the order recorded (type and object name kept in `types` and `names`)."""

    def __init__(self) -> None:     # no client: nothing is written
        self.events: list[tuple[str, str]] = []
        self.types: list[str] = []
        self.names: list[str] = []

    def event(self, obj: Any, type_: str, reason: str, message: str, field_path: str = "",
              host: str | None = None) -> None:
        self.types.append(type_)
        self.names.append(obj.metadata.name)
        self.events.append((reason, message))

    def reasons(self) -> list[str]:
        return [r for r, _ in self.events]

    async def flush(self) -> None:
        pass
