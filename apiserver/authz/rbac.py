"""The RBAC authorizer, as pure functions of (user, attributes, roles, bindings).

Kubernetes' plugin/pkg/auth/authorizer/rbac: a request is allowed when a binding that applies to the user
(by user name, group, or ServiceAccount) refers to a role with a rule that matches the request's verb, API
group, resource[/subresource] and name (or, for a path such as /version, its non-resource URL). There is no
deny rule: what nothing allows is refused. `system:masters` is allowed everything first, as kube-apiserver's
privileged-group authorizer does. The escalation checks (`covers`, `rules_for`) are Kubernetes'
ConfirmNoEscalation: a Role or binding may grant only what its author holds.

The caller (apiserver/authz/__init__.py) supplies roles and bindings from the watch cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ..auth import MASTERS, UserInfo

RBAC_GROUP = "rbac.authorization.k8s.io"
ALL = "*"

# (kind, namespace, name) -> the role object (a Role or ClusterRole; anything with `.rules`).
RoleKey = tuple[str, str, str]
Roles = Mapping[RoleKey, Any]


@dataclass(frozen=True)
class Attributes:
    """k8s.io/apiserver's authorizer.Attributes: what a request does. `path` set means a non-resource request."""
    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource_request(self) -> bool:
        return not self.path


@dataclass(frozen=True)
class Rule:
    """A PolicyRule as plain tuples (what escalation checks compare and report)."""
    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def of(cls, r: Any) -> "Rule":
        if isinstance(r, Rule):
            return r
        return cls(tuple(r.verbs), tuple(r.api_groups), tuple(r.resources), tuple(r.resource_names),
                   tuple(r.non_resource_urls))

    def __str__(self) -> str:
        """As Kubernetes' CompactString prints an uncovered rule in an escalation refusal."""
        parts = []
        for label, values in (("APIGroups", self.api_groups), ("Resources", self.resources),
                              ("ResourceNames", self.resource_names), ("NonResourceURLs", self.non_resource_urls),
                              ("Verbs", self.verbs)):
            if values:
                parts.append(f"{label}:[" + " ".join(f'"{v}"' for v in values) + "]")
        return "{" + ", ".join(parts) + "}"


# ---------------------------------------------------------------- matching (rbac.go RuleAllows)
def _verb_matches(rule: Any, verb: str) -> bool:
    return ALL in rule.verbs or verb in rule.verbs


def _group_matches(rule: Any, group: str) -> bool:
    return ALL in rule.api_groups or group in rule.api_groups


def _resource_matches(rule: Any, combined: str, subresource: str) -> bool:
    for r in rule.resources:
        if r == ALL or r == combined:
            return True
        if subresource and r == f"*/{subresource}":
            return True
    return False


def _name_matches(rule: Any, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def _url_matches(rule: Any, path: str) -> bool:
    for u in rule.non_resource_urls:
        if u == ALL or u == path or (u.endswith("*") and path.startswith(u[:-1])):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Any) -> bool:
    return rules_allow(attrs, (rule,))


def rules_allow(attrs: Attributes, rules: Iterable[Any]) -> bool:
    verb = attrs.verb
    if not attrs.is_resource_request:
        return any(_verb_matches(r, verb) and _url_matches(r, attrs.path) for r in rules)
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    for r in rules:
        if (_verb_matches(r, verb) and _group_matches(r, attrs.api_group)
                and _resource_matches(r, combined, attrs.subresource) and _name_matches(r, attrs.name)):
            return True
    return False


# ---------------------------------------------------------------- subjects and bindings
@dataclass(frozen=True)
class Subject:
    kind: str
    name: str
    namespace: str = ""


@dataclass(frozen=True)
class Binding:
    """A RoleBinding or ClusterRoleBinding as plain tuples (kept per resourceVersion by the caller:
    protobuf's repeated fields are slow to walk on every request)."""
    kind: str                      # RoleBinding or ClusterRoleBinding
    name: str
    namespace: str                 # "" for a ClusterRoleBinding
    role_kind: str
    role_name: str
    subjects: tuple[Subject, ...]

    @classmethod
    def of(cls, b: Any) -> "Binding":
        if isinstance(b, Binding):
            return b
        kind = type(b).__name__
        ns = b.metadata.namespace if kind == "RoleBinding" else ""
        return cls(kind, b.metadata.name, ns, b.role_ref.kind, b.role_ref.name,
                   tuple(Subject(s.kind, s.name, s.namespace) for s in b.subjects))

    @property
    def role_key(self) -> RoleKey:
        return (self.role_kind, self.namespace if self.role_kind == "Role" else "", self.role_name)

    def __str__(self) -> str:
        where = f'RoleBinding "{self.name}/{self.namespace}"' if self.kind == "RoleBinding" \
            else f'ClusterRoleBinding "{self.name}"'
        return f'{where} of {self.role_kind} "{self.role_name}"'


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def applies_to(subject: Any, user: UserInfo, binding_namespace: str) -> bool:
    if subject.kind == "User":
        return subject.name == user.name
    if subject.kind == "Group":
        return subject.name in user.groups
    if subject.kind == "ServiceAccount":
        return user.name == service_account_user(subject.namespace or binding_namespace, subject.name)
    return False


def role_key(binding: Any) -> RoleKey:
    return Binding.of(binding).role_key


def _missing(key: RoleKey) -> str:
    kind, ns, name = key
    return f'{kind.lower()}.{RBAC_GROUP} "{name}" not found'


def _applicable(user: UserInfo, namespace: str, bindings: Iterable[Any]) -> Iterable[tuple[Binding, Subject]]:
    """(binding, subject) for each binding that applies to `user` for a request in `namespace`: every
    ClusterRoleBinding, and the RoleBindings of that namespace."""
    for raw in bindings:
        b = Binding.of(raw)
        if b.namespace and b.namespace != namespace:
            continue
        for s in b.subjects:
            if applies_to(s, user, b.namespace):
                yield b, s
                break


def decide(user: UserInfo, attrs: Attributes, roles: Roles, bindings: Iterable[Any]) -> tuple[bool, str]:
    """(allowed, reason). Allowed: the reason names the binding; refused: the reason lists what could not be
    evaluated (a binding to a missing role), or is empty, as kube-apiserver's RBAC authorizer says."""
    if MASTERS in user.groups:
        return True, ""
    missing: list[str] = []
    for b, s in _applicable(user, attrs.namespace, bindings):
        role = roles.get(b.role_key)
        if role is None:
            missing.append(_missing(b.role_key))
            continue
        if rules_allow(attrs, role.rules):
            return True, f'RBAC: allowed by {b} to {s.kind} "{s.name}"'
    return False, ("RBAC: " + ", ".join(sorted(set(missing)))) if missing else ""


def rules_for(user: UserInfo, namespace: str, roles: Roles, bindings: Iterable[Any]) -> tuple[list[Rule], list[str]]:
    """Every rule `user` holds in `namespace` ("" = cluster-wide only), and the missing roles met."""
    if MASTERS in user.groups:
        return [Rule(verbs=(ALL,), api_groups=(ALL,), resources=(ALL,)), Rule(verbs=(ALL,),
                                                                               non_resource_urls=(ALL,))], []
    rules: list[Rule] = []
    missing: list[str] = []
    for b, _ in _applicable(user, namespace, bindings):
        role = roles.get(b.role_key)
        if role is None:
            missing.append(_missing(b.role_key))
        else:
            rules += [Rule.of(r) for r in role.rules]
    return rules, missing


# ---------------------------------------------------------------- escalation (pkg/registry/rbac/validation)
def breakdown(rule: Rule) -> list[Rule]:
    """BreakdownRule: one rule per (group, resource, name, verb) or (url, verb)."""
    out = []
    for g in rule.api_groups:
        for r in rule.resources:
            for v in rule.verbs:
                if rule.resource_names:
                    out += [Rule((v,), (g,), (r,), (n,)) for n in rule.resource_names]
                else:
                    out.append(Rule((v,), (g,), (r,)))
    for u in rule.non_resource_urls:
        out += [Rule((v,), non_resource_urls=(u,)) for v in rule.verbs]
    return out


def _covers_one(owner: Rule, sub: Rule) -> bool:
    if not (ALL in owner.verbs or sub.verbs[0] in owner.verbs):
        return False
    if sub.non_resource_urls:
        u = sub.non_resource_urls[0]
        return any(o == ALL or o == u or (o.endswith("*") and u.startswith(o[:-1])) for o in owner.non_resource_urls)
    if not (ALL in owner.api_groups or sub.api_groups[0] in owner.api_groups):
        return False
    r = sub.resources[0]
    if not (ALL in owner.resources or r in owner.resources
            or ("/" in r and f"*/{r.split('/', 1)[1]}" in owner.resources)
            or ("/" in r and f"{r.split('/', 1)[0]}/*" in owner.resources)):
        return False
    return not owner.resource_names or (bool(sub.resource_names) and sub.resource_names[0] in owner.resource_names)


def covers(owner: Sequence[Rule], servant: Iterable[Any]) -> tuple[bool, list[Rule]]:
    """Covers: whether `owner` rules hold every permission of `servant`; the uncovered pieces."""
    uncovered = [sub for rule in servant for sub in breakdown(Rule.of(rule))
                 if not any(_covers_one(o, sub) for o in owner)]
    return not uncovered, uncovered


def escalation_message(user: UserInfo, uncovered: Sequence[Rule], missing: Sequence[str]) -> str:
    """ConfirmNoEscalation's refusal, after `<resource> "<name>" is forbidden: `."""
    groups = "[" + " ".join(f'"{g}"' for g in user.groups) + "]"
    msg = (f'user "{user.name}" (groups={groups}) is attempting to grant RBAC permissions not currently held:\n'
           + "\n".join(str(r) for r in uncovered))
    if missing:
        msg += "; resolution errors: [" + " ".join(missing) + "]"
    return msg


__all__ = ["Attributes", "Rule", "Binding", "Subject", "decide", "rules_for", "covers", "breakdown", "rule_allows", "rules_allow",
           "escalation_message", "applies_to", "role_key", "service_account_user", "RBAC_GROUP"]
