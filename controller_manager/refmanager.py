"""Claiming: which objects a controller owns, adopting orphans and releasing strays.

Kubernetes' ControllerRefManager. For an owner with a selector, over the
candidate objects (same namespace):

- controlled by this owner and matching: ours;
- controlled by this owner but no longer matching: release (drop our
  ownerReference), unless the owner is being deleted;
- controlled by someone else: not ours, whatever the labels say;
- an orphan that matches: adopt (add our controller reference), but only if
  the owner, read fresh from the API, still exists with the same uid and is
  not being deleted: adopting into a dying owner would cascade the orphan's
  deletion.

Writes are patches carrying the object's uid, so they can only land on the
object that was looked at.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Iterable

from kubelab import errors, kinds
from kubelab.client import Client
from kubelab.selectors import Selector

from .podutil import controller_ref, new_controller_ref

log = logging.getLogger(__name__)

YIELD_EVERY = 1000    # objects claimed between turns of the event loop


def _ref_dict(owner: Any) -> dict[str, Any]:
    ref = new_controller_ref(owner)
    return {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name, "uid": ref.uid,
            "controller": True, "blockOwnerDeletion": True}


class RefManager:
    def __init__(self, client: Client, owner: Any, selector: Selector) -> None:
        self.client = client
        self.owner = owner
        self.selector = selector
        self._can_adopt: bool | None = None

    async def can_adopt(self) -> bool:
        if self._can_adopt is None:
            md = self.owner.metadata
            try:
                fresh = await self.client.get(kinds.info_of(self.owner).kind, md.name, md.namespace)
                self._can_adopt = fresh.metadata.uid == md.uid and not fresh.metadata.deletion_timestamp
            except errors.NotFound:
                self._can_adopt = False
        return self._can_adopt

    async def claim(self, objs: Iterable[Any]) -> list[Any]:
        owner_md = self.owner.metadata
        claimed: list[Any] = []
        first_error: errors.ApiError | None = None
        for i, obj in enumerate(objs):
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                # A ReplicaSet of 10,000 pods is claimed on every sync: without a turn for the event loop the
                # informers read one watch message per sync, and the events that satisfy the expectations
                # trickle in at a few per second (the scale-down that stalled for minutes).
                await asyncio.sleep(0)
            labels = obj.metadata.labels
            ref = controller_ref(obj)
            try:
                if ref is not None:
                    if ref.uid != owner_md.uid:
                        continue
                    if self.selector.matches(labels):
                        claimed.append(obj)
                    elif not owner_md.deletion_timestamp and not obj.metadata.deletion_timestamp:
                        await self.release(obj)
                    continue
                if (owner_md.deletion_timestamp or obj.metadata.deletion_timestamp
                        or not self.selector.matches(labels)):
                    continue
                if not await self.can_adopt():
                    continue
                adopted = await self.adopt(obj)
                if adopted is not None:
                    claimed.append(adopted)
            except errors.NotFound:
                continue
            except errors.ApiError as e:
                first_error = first_error or e
        if first_error is not None:
            raise first_error
        return claimed

    async def adopt(self, obj: Any) -> Any | None:
        kind = kinds.info_of(obj).kind
        md = obj.metadata
        log.info("%s %s/%s adopting %s %s", self.owner.kind, md.namespace, self.owner.metadata.name, kind, md.name)
        patch = {"metadata": {"ownerReferences": [_ref_dict(self.owner)], "uid": md.uid}}
        try:
            return await self.client.patch(kind, md.name, json.dumps(patch), md.namespace)
        except errors.Invalid:
            return None      # the uid changed: a different object of that name now

    async def release(self, obj: Any) -> None:
        kind = kinds.info_of(obj).kind
        md = obj.metadata
        log.info("%s %s/%s releasing %s %s", self.owner.kind, md.namespace, self.owner.metadata.name, kind, md.name)
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": self.owner.metadata.uid}],
                              "uid": md.uid}}
        try:
            await self.client.patch(kind, md.name, json.dumps(patch), md.namespace)
        except errors.Invalid:
            pass
