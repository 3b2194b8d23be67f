"""What the apiserver writes itself at start, as kube-apiserver does: the default namespaces (each with its
`default` ServiceAccount), the bootstrap RBAC roles and bindings, and the `kubernetes` Service with the
Endpoints that lead to this apiserver's advertised address.
"""
from __future__ import annotations

import ipaddress
import socket

from kubelab import errors
from kubelab.hostport import split_host_port
from kubelab.v1 import objects_pb2 as pb

from .authz import bootstrap
from .store import Store

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def advertise_address(listen: str, given: str = "") -> str:
    """Where other hosts reach this apiserver, as an IP (an Endpoints address is one): `given`, the listen
    host (a name: the address it resolves to), or (listening on 0.0.0.0) the host's address on its default
    route, as kube-apiserver picks its --advertise-address."""
    if given:
        ipaddress.ip_address(given)      # ValueError: kube-apiserver too takes an IP only
        return given
    host, _ = split_host_port(listen, min_port=0)
    if host not in ("", "0.0.0.0", "::"):
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
        try:
            return socket.gethostbyname(host)
        except OSError:
            pass                         # unresolvable here: fall back to the default route's address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))     # no packet is sent: this only asks for a route
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


async def ensure_namespaces(store: Store) -> None:
    for name in DEFAULT_NAMESPACES:
        ns = pb.Namespace(api_version="v1", kind="Namespace")
        ns.metadata.name = name
        try:
            await store.create(ns)
        except errors.AlreadyExists:
            pass
        sa = pb.ServiceAccount(api_version="v1", kind="ServiceAccount")
        sa.metadata.name, sa.metadata.namespace = "default", name
        try:
            await store.create(sa)
        except errors.AlreadyExists:
            pass


async def ensure_rbac(store: Store) -> None:
    """The bootstrap ClusterRoles and ClusterRoleBindings (authz/bootstrap.py): created if missing, given what
    this version grants and they lack if present (bootstrap.reconciled)."""
    for obj in [*bootstrap.cluster_roles(), *bootstrap.cluster_role_bindings()]:
        try:
            await store.create(obj)
            continue
        except errors.AlreadyExists:
            pass
        current = await store.get(obj.kind, "", obj.metadata.name)
        update = bootstrap.reconciled(current, obj)
        if update is not None:
            try:
                await store.update(update)
            except errors.Conflict:
                pass                       # another apiserver reconciles it meanwhile, to the same end


async def ensure_kubernetes_service(store: Store, service_cidr: str, port: int, advertised: str) -> None:
    """The `kubernetes` Service in default, on the range's first address, as in Kubernetes; its Endpoints
    lead to `advertised`:`port`."""
    svc = pb.Service(api_version="v1", kind="Service")
    svc.metadata.name, svc.metadata.namespace = "kubernetes", "default"
    svc.metadata.labels.update({"component": "apiserver", "provider": "kubernetes"})
    svc.spec.cluster_ip = str(ipaddress.ip_network(service_cidr).network_address + 1)
    svc_port = svc.spec.ports.add(name="https", port=443, protocol="TCP")
    svc_port.target_port.number_value = port
    try:
        await store.create(svc)
    except (errors.AlreadyExists, errors.Invalid):
        pass
    await reconcile_kubernetes_endpoints(store, advertised, port)


async def reconcile_kubernetes_endpoints(store: Store, advertised: str, port: int) -> None:
    """The `kubernetes` Service has no selector: like kube-apiserver, the apiserver writes its Endpoints,
    its own advertised address and port, so the Service (10.96.0.1:443) leads somewhere."""
    ep = pb.Endpoints(api_version="v1", kind="Endpoints")
    ep.metadata.name, ep.metadata.namespace = "kubernetes", "default"
    subset = ep.subsets.add()
    subset.addresses.add(ip=advertised)
    subset.ports.add(name="https", port=port, protocol="TCP")
    attempt = pb.Endpoints()
    attempt.CopyFrom(ep)                 # create fills in uid and timestamps, which an update may not carry
    try:
        await store.create(attempt)
    except errors.AlreadyExists:
        try:
            await store.update(ep)       # unconditional (no resourceVersion); writes nothing if unchanged
        except errors.Conflict:
            pass                         # another apiserver worker wrote it meanwhile: the same endpoints
