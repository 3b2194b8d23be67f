"""ServiceAccounts controller: every namespace has a `default` ServiceAccount.

Where it sits: watches Namespaces and ServiceAccounts; for a namespace that is not being deleted and lacks
`default`, it creates it through the API (Kubernetes' serviceaccounts-controller, ServiceAccountsController
with its one entry, `default`). Level-triggered: a namespace added, changed or resynced, and a `default`
deleted, all lead to the same look (`missing`), which decides from the informers' copies; the create is
answered AlreadyExists when someone was faster (the apiserver writes `default` with a namespace itself), and
Forbidden when the namespace started terminating meanwhile: both leave nothing to do.
"""
from __future__ import annotations

from typing import Any

from kubelab import errors
from kubelab.v1 import objects_pb2 as pb

from .base import Controller

# The ServiceAccounts every namespace gets (Kubernetes' DefaultServiceAccountsControllerOptions).
SERVICE_ACCOUNTS = ("default",)


def missing(namespace: Any, existing: set[str]) -> list[str]:
    """The ServiceAccounts to create in `namespace` (none in one being deleted: it is emptying)."""
    if namespace is None or namespace.metadata.deletion_timestamp or namespace.status.phase == "Terminating":
        return []
    return [name for name in SERVICE_ACCOUNTS if name not in existing]


class ServiceAccountsController(Controller):
    name = "serviceaccount"
    component = "serviceaccounts-controller"
    default_workers = 1

    def setup(self) -> None:
        self.ns_informer = self.informers.get("Namespace")
        self.sa_informer = self.informers.get("ServiceAccount")
        self.ns_informer.add_handlers(on_add=self._ns_changed, on_update=lambda old, new: self._ns_changed(new))
        self.sa_informer.add_handlers(on_delete=self._sa_deleted)

    def _ns_changed(self, ns: pb.Namespace) -> None:
        self.queue.add(ns.metadata.name)

    def _sa_deleted(self, sa: pb.ServiceAccount) -> None:
        if sa.metadata.name in SERVICE_ACCOUNTS:
            self.queue.add(sa.metadata.namespace)

    async def reconcile(self, key: str) -> None:
        ns = self.ns_informer.get(key)
        existing = {name for name in SERVICE_ACCOUNTS if self.sa_informer.get(f"{key}/{name}") is not None}
        for name in missing(ns, existing):
            sa = pb.ServiceAccount(api_version="v1", kind="ServiceAccount")
            sa.metadata.name, sa.metadata.namespace = name, key
            try:
                await self.client.create(sa)
                self.log.info("created ServiceAccount %s/%s", key, name)
            except (errors.AlreadyExists, errors.Forbidden, errors.NotFound):
                pass           # made meanwhile, or the namespace is going (its deletion empties it)
