"""discovery.k8s.io/v1 EndpointSlice: its defaults and validation, as Kubernetes' registry has them.

Sits beside the other kinds' strategies (apiserver/registry); the EndpointSlice controllers
(controller_manager/endpointslice.py) are its main writers. Follows pkg/apis/discovery/validation and
pkg/registry/discovery/endpointslice: the name is a DNS subdomain; addressType is IPv4, IPv6 or FQDN and
immutable (an update may still carry the deprecated `IP`); each endpoint has 1 to 100 addresses of that
type; at most 1000 endpoints and 100 ports; port names are DNS labels and unique, protocols TCP, UDP or
SCTP (defaulted to TCP, a missing name to ""). Any change but to metadata other than labels bumps
generation. Kubernetes' extra refusal of special addresses (loopback, link-local) is not made: kubelab's
Endpoints take them, and the `kubernetes` Service's mirrored slice carries the apiserver's address, which
is loopback under `cluster up --local`.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from .common import (FieldError, FieldErrors, Strategy, validate_labels, validate_metadata_update, validate_name,
                     validate_qualified_name)
from .pod import PROTOCOLS

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")       # sorted, as Kubernetes lists the supported values
DEPRECATED_ADDRESS_TYPES = ("IP",)
MAX_ENDPOINTS, MAX_PORTS, MAX_ADDRESSES, MAX_TOPOLOGY_LABELS = 1000, 100, 100, 16


def _too_many(errs: FieldErrors, path: str, n: int, most: int) -> None:
    errs.append(FieldError(path, "Too many", n, f"must have at most {most} items"))


def _address_problem(address_type: str, address: str) -> str:
    """Why `address` is not of `address_type` ("" when it is, or the type is not one that is checked)."""
    if address_type in ("IPv4", "IPv6", "IP"):
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if address_type == "IP":
            return "" if ip is not None else "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
        want = 4 if address_type == "IPv4" else 6
        return "" if ip is not None and ip.version == want else f"must be a valid {address_type} address"
    if address_type == "FQDN":
        name = address[:-1] if address.endswith(".") else address
        if name.count(".") < 1:
            return "should be a domain with at least two segments separated by dots"
        errs = FieldErrors()
        validate_name(errs, "", name)
        return errs[0].detail if errs else ""
    return ""


class EndpointSliceStrategy(Strategy):
    def default(self, obj: Any) -> None:
        for p in obj.ports:
            if not p.HasField("name"):
                p.name = ""
            if not p.HasField("protocol"):
                p.protocol = "TCP"

    def prepare_create(self, obj: Any) -> None:
        super().prepare_create(obj)
        obj.metadata.generation = 1

    def prepare_update(self, new: Any, old: Any) -> None:
        super().prepare_update(new, old)
        # Kubernetes' PrepareForUpdate: anything but metadata changed, or the labels did, is a new generation.
        def body(o: Any) -> bytes:
            c = type(o)()
            c.CopyFrom(o)
            c.ClearField("metadata")
            return c.SerializeToString(deterministic=True)
        changed = body(new) != body(old) or dict(new.metadata.labels) != dict(old.metadata.labels)
        new.metadata.generation = old.metadata.generation + (1 if changed else 0)

    def validate(self, obj: Any, address_types: tuple[str, ...] = ADDRESS_TYPES) -> FieldErrors:
        errs = super().validate(obj)
        at = obj.address_type
        if not at:
            errs.required("addressType")
        elif at not in address_types:
            errs.unsupported("addressType", at, sorted(address_types))
        if len(obj.endpoints) > MAX_ENDPOINTS:
            _too_many(errs, "endpoints", len(obj.endpoints), MAX_ENDPOINTS)
        else:
            for i, ep in enumerate(obj.endpoints):
                p = f"endpoints[{i}]"
                if not ep.addresses:
                    errs.required(f"{p}.addresses", "must contain at least 1 address")
                elif len(ep.addresses) > MAX_ADDRESSES:
                    _too_many(errs, f"{p}.addresses", len(ep.addresses), MAX_ADDRESSES)
                for j, a in enumerate(ep.addresses):
                    if msg := _address_problem(at, a):
                        errs.invalid(f"{p}.addresses[{j}]", a, msg)
                if len(ep.deprecated_topology) > MAX_TOPOLOGY_LABELS:
                    _too_many(errs, f"{p}.deprecatedTopology", len(ep.deprecated_topology), MAX_TOPOLOGY_LABELS)
                validate_labels(errs, f"{p}.deprecatedTopology", ep.deprecated_topology)
                if ep.HasField("hostname"):
                    validate_name(errs, f"{p}.hostname", ep.hostname, label=True)
        if len(obj.ports) > MAX_PORTS:
            _too_many(errs, "ports", len(obj.ports), MAX_PORTS)
            return errs
        names: set[str] = set()
        for i, port in enumerate(obj.ports):
            p = f"ports[{i}]"
            if port.name:
                validate_name(errs, f"{p}.name", port.name, label=True)
            if port.name in names:
                errs.duplicate(f"{p}.name", port.name)
            names.add(port.name)
            if not port.HasField("protocol"):
                errs.required(f"{p}.protocol")
            elif port.protocol not in PROTOCOLS:
                errs.unsupported(f"{p}.protocol", port.protocol, sorted(PROTOCOLS))
            if port.HasField("app_protocol"):
                validate_qualified_name(errs, f"{p}.appProtocol", port.app_protocol)
        return errs

    def validate_update(self, new: Any, old: Any) -> FieldErrors:
        errs = self.validate(new, ADDRESS_TYPES + DEPRECATED_ADDRESS_TYPES)
        validate_metadata_update(errs, new, old)
        if new.address_type != old.address_type:
            errs.invalid("addressType", new.address_type, "field is immutable")
        return errs


__all__ = ["EndpointSliceStrategy", "ADDRESS_TYPES"]
