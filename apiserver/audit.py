"""The audit log: who asked the apiserver for what, and what it answered, as kube-apiserver writes it.

Sits on the apiserver's request path after authentication, for both front ends (gRPC and HTTP): each
request is described once (`RequestInfo`), the policy decides its level, and at the end one
`audit.k8s.io/v1` Event per stage goes to the log. Owns:
- the policy (`audit.k8s.io/v1` Policy: rules matched in order by users, groups, verbs, resources,
  namespaces and non-resource URLs; levels None, Metadata, Request, RequestResponse; omitStages),
  read from `--audit-policy-file` or the default below;
- the Event documents (auditID, stage, verb, user and groups, userAgent, sourceIPs, objectRef with
  resource, namespace, name, subresource, apiGroup, apiVersion and resourceVersion, responseStatus,
  requestReceivedTimestamp and stageTimestamp, and the request/response objects at the levels that
  carry them);
- the log file (`--audit-log-path`, one JSON document per line; `-` is standard output) with
  size-based rotation (`--audit-log-maxsize` in megabytes, `--audit-log-maxbackup` files kept) in
  the layout kube-apiserver's lumberjack writer uses: `audit.log` → `audit-<time>.log`.

Writing is batched: events are queued and written by one task every `flush_interval`, so a request
never waits on the disk (kube-apiserver's batch backend does the same); `close()` writes what is left.
"""
from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, TextIO

import yaml

from kubelab import timeutil

from .auth import Extra, extra_json

log = logging.getLogger(__name__)

LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
READ_VERBS = ("get", "list", "watch")

# The lab's default: every write at Metadata, with no reads (they are most requests and change nothing),
# no Leases (leader election and node heartbeats renew them every few seconds) and no Events (they are
# a log of their own); RequestReceived left out, as most clusters configure it.
DEFAULT_POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "verbs": list(READ_VERBS)},
        {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "None", "resources": [{"group": "", "resources": ["events"]}]},
        {"level": "Metadata"},
    ],
}


# What the audit subscribers (the trace index) are given, whatever the file's policy says: every write at
# Metadata, except Leases (renewals every few seconds) and nodes' status heartbeats, which explain nothing.
# Events are kept: their record names who wrote each one.
SUBSCRIBER_POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "verbs": list(READ_VERBS)},
        {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "None", "resources": [{"group": "", "resources": ["nodes/status"]}]},
        {"level": "Metadata"},
    ],
}


class PolicyError(ValueError):
    """A policy file that kube-apiserver would refuse to start with."""


@dataclass(frozen=True)
class RequestInfo:
    """One request as the audit log sees it, whichever front end it came through."""
    verb: str                         # Kubernetes' verb: get, list, watch, create, update, patch, delete, ...
    user: str
    groups: tuple[str, ...] = ()
    extra: Extra = ()                 # the user's (auth.UserInfo.extra)
    user_agent: str = ""
    source_ip: str = ""
    resource: str = ""                # plural, "" for a non-resource request
    api_group: str = ""
    api_version: str = "v1"
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    request_uri: str = ""
    non_resource_url: str = ""


@dataclass(frozen=True)
class Rule:
    level: str
    users: frozenset[str] = frozenset()
    user_groups: frozenset[str] = frozenset()
    verbs: frozenset[str] = frozenset()
    resources: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = ()   # (group, resources, resourceNames)
    namespaces: frozenset[str] = frozenset()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: frozenset[str] = frozenset()

    def matches(self, r: RequestInfo) -> bool:
        if self.users and r.user not in self.users:
            return False
        if self.user_groups and not self.user_groups & set(r.groups):
            return False
        if self.verbs and r.verb not in self.verbs:
            return False
        if self.non_resource_urls:
            return bool(r.non_resource_url) and any(
                r.non_resource_url == u or (u.endswith("*") and r.non_resource_url.startswith(u[:-1]))
                for u in self.non_resource_urls)
        if self.namespaces and r.namespace not in self.namespaces:
            return False
        if self.resources:
            if not r.resource:
                return False
            full = f"{r.resource}/{r.subresource}" if r.subresource else r.resource
            return any(group == r.api_group and (not names or full in names or r.resource in names
                                                 or f"*/{r.subresource}" in names or "*" in names)
                       and (not resource_names or r.name in resource_names)
                       for group, names, resource_names in self.resources)
        return True


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    omit_stages: frozenset[str] = frozenset()

    def decide(self, r: RequestInfo) -> tuple[str, frozenset[str]]:
        """(level, stages to leave out) for a request: the first rule that matches, else None."""
        for rule in self.rules:
            if rule.matches(r):
                return rule.level, self.omit_stages | rule.omit_stages
        return "None", self.omit_stages


def _strings(doc: dict[str, Any], key: str, where: str) -> frozenset[str]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}.{key}: must be a list of strings")
    return frozenset(value)


def _stages(doc: dict[str, Any], where: str) -> frozenset[str]:
    stages = _strings(doc, "omitStages", where)
    bad = sorted(stages - set(STAGES))
    if bad:
        raise PolicyError(f'{where}.omitStages: Unsupported value: "{bad[0]}": supported values: '
                          + ", ".join(f'"{s}"' for s in STAGES))
    return stages


def parse_policy(doc: Any) -> Policy:
    """A Policy document (already parsed from YAML/JSON), checked as kube-apiserver checks it."""
    if not isinstance(doc, dict) or doc.get("kind") != "Policy" or doc.get("apiVersion") != "audit.k8s.io/v1":
        raise PolicyError('an audit policy is apiVersion "audit.k8s.io/v1", kind "Policy"')
    rules = []
    for i, r in enumerate(doc.get("rules") or []):
        where = f"rules[{i}]"
        if not isinstance(r, dict):
            raise PolicyError(f"{where}: must be an object")
        level = r.get("level")
        if level not in LEVELS:
            raise PolicyError(f'{where}.level: Unsupported value: "{level}": supported values: '
                              + ", ".join(f'"{v}"' for v in LEVELS))
        resources = []
        for j, g in enumerate(r.get("resources") or []):
            if not isinstance(g, dict):
                raise PolicyError(f"{where}.resources[{j}]: must be an object")
            resources.append((str(g.get("group", "")), _strings(g, "resources", f"{where}.resources[{j}]"),
                              _strings(g, "resourceNames", f"{where}.resources[{j}]")))
        urls = tuple(_strings(r, "nonResourceURLs", where))
        if urls and (resources or r.get("namespaces")):
            raise PolicyError(f"{where}: rules cannot apply to both regular resources and non-resource URLs")
        rules.append(Rule(level=level, users=_strings(r, "users", where), user_groups=_strings(r, "userGroups", where),
                          verbs=_strings(r, "verbs", where), resources=tuple(resources),
                          namespaces=_strings(r, "namespaces", where), non_resource_urls=urls,
                          omit_stages=_stages(r, where)))
    return Policy(tuple(rules), _stages(doc, "policy"))


def load_policy(path: str | Path | None) -> Policy:
    """`--audit-policy-file`, or the lab's default when none is given."""
    if not path:
        return parse_policy(DEFAULT_POLICY)
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise PolicyError(f"reading the audit policy {path}: {e}") from e
    return parse_policy(doc)


@dataclass
class Record:
    """An audited request in flight: made when the request arrives, completed when it is answered."""
    info: RequestInfo
    level: str
    omit: frozenset[str]
    audit_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    received: str = field(default_factory=timeutil.now_micro)
    request_object: Any = None
    annotations: dict[str, str] = field(default_factory=dict)    # the event's `annotations`
    to_file: bool = True             # False: made for the subscribers only (the file's policy said None)

    def event(self, stage: str, code: int | None = None, response_object: Any = None,
              resource_version: str = "", message: str = "") -> dict[str, Any]:
        i = self.info
        ev: dict[str, Any] = {
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": self.level, "auditID": self.audit_id,
            "stage": stage, "requestURI": i.request_uri or _uri(i), "verb": i.verb,
            "user": _user(i),
            "sourceIPs": [i.source_ip] if i.source_ip else [], "userAgent": i.user_agent,
        }
        if i.resource:
            ref = {"resource": i.resource, "namespace": i.namespace, "name": i.name,
                   "apiGroup": i.api_group, "apiVersion": i.api_version,
                   "subresource": i.subresource, "resourceVersion": resource_version}
            ev["objectRef"] = {k: v for k, v in ref.items() if v}
        if code is not None:
            status: dict[str, Any] = {"metadata": {}, "code": code}
            if code >= 400:
                status["status"] = "Failure"
                if message:
                    status["message"] = message
            ev["responseStatus"] = status
        if self.level in ("Request", "RequestResponse") and self.request_object is not None:
            ev["requestObject"] = self.request_object
        if self.level == "RequestResponse" and response_object is not None:
            ev["responseObject"] = response_object
        if self.annotations:
            ev["annotations"] = dict(self.annotations)
        ev["requestReceivedTimestamp"] = self.received
        ev["stageTimestamp"] = timeutil.now_micro()
        return ev


def _user(i: RequestInfo) -> dict[str, Any]:
    """The event's `user` (authentication.k8s.io/v1 UserInfo; `extra` only when the authenticator set some)."""
    out: dict[str, Any] = {"username": i.user, "groups": list(i.groups)}
    if i.extra:
        out["extra"] = extra_json(i.extra)
    return out


def _uri(i: RequestInfo) -> str:
    if i.non_resource_url:
        return i.non_resource_url
    prefix = f"/apis/{i.api_group}/{i.api_version}" if i.api_group else f"/api/{i.api_version}"
    parts = [prefix] + ([f"namespaces/{i.namespace}"] if i.namespace else []) + [i.resource]
    # A create is POSTed to its collection (its objectRef still names the object, from the body).
    parts += [i.name] if i.name and (i.verb != "create" or i.subresource) else []
    parts += [i.subresource] if i.subresource else []
    return "/".join(parts)


class RotatingFile:
    """Appends lines to `path`; past `max_bytes` the file is renamed `<stem>-<time><suffix>` and a new one
    begun, keeping `max_backups` old files (0 keeps all), as lumberjack does for kube-apiserver."""

    def __init__(self, path: Path, max_bytes: int = 0, max_backups: int = 0) -> None:
        self.path, self.max_bytes, self.max_backups = path, max_bytes, max_backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = open(path, "a", encoding="utf-8")
        os.chmod(path, 0o600)          # an audit log names users and objects: its owner's only
        self._size = self._file.tell()

    def write_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            if self.max_bytes and self._size and self._size + len(line) + 1 > self.max_bytes:
                self._rotate()
            self._file.write(line + "\n")
            self._size += len(line.encode()) + 1
        self._file.flush()

    def _rotate(self) -> None:
        self._file.close()
        # Fixed-width timestamps, bumped a microsecond on a collision: names sort as the files were made.
        when = datetime.datetime.now(datetime.timezone.utc)
        while True:
            backup = self.path.with_name(f"{self.path.stem}-{when.strftime('%Y-%m-%dT%H-%M-%S.%f')}{self.path.suffix}")
            if not backup.exists():
                break
            when += datetime.timedelta(microseconds=1)
        os.replace(self.path, backup)
        if self.max_backups:
            old = sorted(self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}"))
            for p in old[:-self.max_backups]:
                p.unlink(missing_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        os.chmod(self.path, 0o600)
        self._size = 0

    def close(self) -> None:
        self._file.close()


class _Stdout:
    def write_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


@dataclass
class AuditConfig:
    log_path: str = ""                # "" = off; "-" = standard output
    max_size_mb: int = 100
    max_backups: int = 0
    policy_file: str = ""


class AuditLog:
    """The apiserver's audit backend: `begin` a request, `finish` it; batched writes to the log file.

    Subscribers (the trace index) get every completed event, written or not by the file's level."""

    def __init__(self, config: AuditConfig, flush_interval: float = 0.2) -> None:
        self.policy = load_policy(config.policy_file)
        self.subscriber_policy = parse_policy(SUBSCRIBER_POLICY)
        self.enabled = bool(config.log_path)
        self._sink: RotatingFile | _Stdout | None = None
        if config.log_path == "-":
            self._sink = _Stdout()
        elif config.log_path:
            self._sink = RotatingFile(Path(config.log_path), config.max_size_mb * 1024 * 1024, config.max_backups)
        self._pending: list[str] = []
        self._flush_interval = flush_interval
        self._task: asyncio.Task[None] | None = None
        self.subscribers: list[Any] = []

    def begin(self, info: RequestInfo, request_object: Any = None) -> Record | None:
        """A record for the request, or None when the policy leaves it out."""
        if not self.enabled and not self.subscribers:
            return None
        level, omit = self.policy.decide(info)
        to_file = level != "None"
        if not to_file and self.subscribers:
            level, omit = self.subscriber_policy.decide(info)
        if level == "None":
            return None
        rec = Record(info, level, omit, request_object=request_object, to_file=to_file)
        if "RequestReceived" not in omit:
            self._emit(rec.event("RequestReceived"), to_file)
        return rec

    def finish(self, rec: Record | None, code: int, response_object: Any = None, resource_version: str = "",
               message: str = "") -> None:
        if rec is None or "ResponseComplete" in rec.omit:
            return
        self._emit(rec.event("ResponseComplete", code, response_object, resource_version, message), rec.to_file)

    def _emit(self, event: dict[str, Any], to_file: bool = True) -> None:
        for sub in self.subscribers:
            try:
                sub(event)
            except Exception:  # noqa: BLE001 - a subscriber's bug must not fail the request
                log.exception("audit subscriber failed")
        if self._sink is None or not to_file:
            return
        self._pending.append(json.dumps(event, separators=(",", ":")))
        if self._task is None:
            try:
                self._task = asyncio.get_running_loop().create_task(self._flush_later())
            except RuntimeError:         # no loop (a test, a shutdown): write now
                self.flush()

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._flush_interval)
        self._task = None
        self.flush()

    def flush(self) -> None:
        if self._pending and self._sink is not None:
            lines, self._pending = self._pending, []
            try:
                self._sink.write_lines(lines)
            except OSError as e:
                log.error("writing the audit log: %s (%d events lost)", e, len(lines))

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.flush()
        if self._sink is not None:
            self._sink.close()
