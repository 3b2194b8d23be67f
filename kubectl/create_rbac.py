"""kubectl's imperative `create role|clusterrole|rolebinding|clusterrolebinding|serviceaccount`, and `create token`.

Adds these generators to `create` (kubectl/apply.py) and is what main.py loads for `create`. Rules are
built as kubectl's generateResourcePolicyRules builds them: one rule per API group of the given resources
(short names resolved: `--resource=rs` is `replicasets` in `apps`), with the verbs and resource names given.
"""
from __future__ import annotations

from typing import Any

import click

from kubectl.apply import _create_generated, build, create, dry_run_option
from kubectl.context import CLIError, global_options, options, settings

RBAC_API = "rbac.authorization.k8s.io/v1"
# kubectl create role's validResourceVerbs and validNonResourceVerbs.
RESOURCE_VERBS = ("*", "get", "delete", "list", "create", "update", "patch", "watch", "proxy", "deletecollection",
                  "use", "bind", "escalate", "impersonate")
NON_RESOURCE_VERBS = ("*", "get", "post", "put", "delete", "patch", "head", "options")

create.ALIASES = {**create.ALIASES, "sa": "serviceaccount"}  # type: ignore[attr-defined]


def _split(values: tuple[str, ...]) -> list[str]:
    """kubectl's string-slice flags: repeatable, each comma-separated."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _group_resource(spec: str) -> tuple[str, str]:
    """`pods`, `rs`, `deployments.apps`, `pods/log` → (group, resource[/subresource])."""
    from kubelab import kinds
    type_, _, sub = spec.partition("/")
    try:
        info = kinds.lookup(type_)
    except kinds.UnknownKind:
        raise CLIError(f'the server doesn\'t have a resource type "{type_}"') from None
    return info.group, info.plural + (f"/{sub}" if sub else "")


def policy_rules(verbs: list[str], resources: list[str], names: list[str], urls: list[str]) -> list[dict[str, Any]]:
    if not verbs:
        raise CLIError("at least one verb must be specified")
    if not resources and not urls:
        raise CLIError("at least one resource must be specified")
    allowed = RESOURCE_VERBS if resources else NON_RESOURCE_VERBS
    for v in verbs:
        if v not in allowed:
            raise CLIError(f"invalid verb: '{v}'" + (" for nonResourceURL" if not resources else ""))
    if urls and resources and any(v not in NON_RESOURCE_VERBS for v in verbs):
        raise CLIError("invalid verb for nonResourceURL")
    by_group: dict[str, list[str]] = {}
    for spec in resources:
        group, resource = _group_resource(spec)
        if resource not in by_group.setdefault(group, []):
            by_group[group].append(resource)
    rules: list[dict[str, Any]] = []
    for group in sorted(by_group):
        rule: dict[str, Any] = {"verbs": verbs, "apiGroups": [group], "resources": by_group[group]}
        if names:
            rule["resourceNames"] = names
        rules.append(rule)
    for url in urls:
        if not url.startswith("/"):
            raise CLIError(f"nonResourceURL should start with /: {url}")
    if urls:
        rules.append({"verbs": verbs, "nonResourceURLs": urls})
    return rules


_rule_options = options(
    click.option("--verb", "verbs", multiple=True, help="Verb that applies to the resources (repeatable, "
                 "comma-separated)."),
    click.option("--resource", "resources", multiple=True, help="Resource that the rule applies to."),
    click.option("--resource-name", "resource_names", multiple=True,
                 help="Resource in the white list that the rule applies to."),
    dry_run_option, click.option("-o", "--output", default=None), global_options)


@create.command("role")
@click.argument("name")
@_rule_options
def create_role(name: str, verbs: tuple[str, ...], resources: tuple[str, ...], resource_names: tuple[str, ...],
                dry_run: str, output: str | None) -> None:
    """Create a role with single rule.

    \b
    Examples:
      kubelab create role pod-reader --verb=get,list,watch --resource=pods
    """
    if not resources:
        raise CLIError("at least one resource must be specified")
    rules = policy_rules(_split(verbs), _split(resources), _split(resource_names), [])
    _create_generated(build({"apiVersion": RBAC_API, "kind": "Role", "rules": rules,
                             "metadata": {"name": name, "namespace": settings().current_namespace()}}))


@create.command("clusterrole")
@click.argument("name")
@_rule_options
@click.option("--non-resource-url", "urls", multiple=True, help="A partial url that user should have access to.")
def create_clusterrole(name: str, verbs: tuple[str, ...], resources: tuple[str, ...],
                       resource_names: tuple[str, ...], dry_run: str, output: str | None,
                       urls: tuple[str, ...]) -> None:
    """Create a cluster role.

    \b
    Examples:
      kubelab create clusterrole pod-reader --verb=get,list,watch --resource=pods
      kubelab create clusterrole version-reader --verb=get --non-resource-url=/version
    """
    rules = policy_rules(_split(verbs), _split(resources), _split(resource_names), _split(urls))
    _create_generated(build({"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": {"name": name},
                             "rules": rules}))


def subjects(users: tuple[str, ...], groups: tuple[str, ...], service_accounts: tuple[str, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": u}
                                 for u in users]
    out += [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g} for g in groups]
    for sa in service_accounts:
        ns, sep, sa_name = sa.partition(":")
        if not sep or not ns or not sa_name:
            raise CLIError(f"serviceaccount must be <namespace>:<name>, got {sa!r}")
        out.append({"kind": "ServiceAccount", "namespace": ns, "name": sa_name})
    return out


_binding_options = options(
    click.option("--clusterrole", default="", help="ClusterRole this binding should reference."),
    click.option("--user", "users", multiple=True, help="Usernames to bind to the role (repeatable)."),
    click.option("--group", "groups", multiple=True, help="Groups to bind to the role (repeatable)."),
    click.option("--serviceaccount", "service_accounts", multiple=True,
                     help="Service accounts to bind to the role, in the format <namespace>:<name>."),
    dry_run_option, click.option("-o", "--output", default=None), global_options)


@create.command("rolebinding")
@click.argument("name")
@_binding_options
@click.option("--role", default="", help="Role this RoleBinding should reference.")
def create_rolebinding(name: str, clusterrole: str, users: tuple[str, ...], groups: tuple[str, ...],
                       service_accounts: tuple[str, ...], dry_run: str, output: str | None, role: str) -> None:
    """Create a role binding for a particular role or cluster role.

    \b
    Examples:
      kubelab create rolebinding admin --clusterrole=admin --user=user1 --user=user2 --group=group1
      kubelab create rolebinding myapp-view --clusterrole=view --serviceaccount=acme:myapp -n acme
    """
    if bool(clusterrole) == bool(role):
        raise CLIError("exactly one of clusterrole or role must be specified")
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole" if clusterrole else "Role",
           "name": clusterrole or role}
    _create_generated(build({"apiVersion": RBAC_API, "kind": "RoleBinding", "roleRef": ref,
                             "metadata": {"name": name, "namespace": settings().current_namespace()},
                             "subjects": subjects(users, groups, service_accounts)}))


@create.command("clusterrolebinding")
@click.argument("name")
@_binding_options
def create_clusterrolebinding(name: str, clusterrole: str, users: tuple[str, ...], groups: tuple[str, ...],
                              service_accounts: tuple[str, ...], dry_run: str, output: str | None) -> None:
    """Create a cluster role binding for a particular cluster role.

    \b
    Examples:
      kubelab create clusterrolebinding root --clusterrole=cluster-admin --user=root
    """
    if not clusterrole:
        raise CLIError("clusterrole must be specified")
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": clusterrole}
    _create_generated(build({"apiVersion": RBAC_API, "kind": "ClusterRoleBinding", "roleRef": ref,
                             "metadata": {"name": name}, "subjects": subjects(users, groups, service_accounts)}))


@create.command("serviceaccount")
@click.argument("name")
@dry_run_option
@click.option("-o", "--output", default=None)
@global_options
def create_serviceaccount(name: str, dry_run: str, output: str | None) -> None:
    """Create a service account with the specified name."""
    _create_generated(build({"apiVersion": "v1", "kind": "ServiceAccount",
                             "metadata": {"name": name, "namespace": settings().current_namespace()}}))


# kubectl create token's --bound-object-kind values kubelab's apiserver binds tokens to.
BOUND_OBJECT_KINDS = ("Pod",)


def token_options(duration: str, audiences: tuple[str, ...], bound_kind: str, bound_name: str,
                  bound_uid: str) -> int | None:
    """kubectl create token's checks of its flags (in its words); the expirationSeconds to ask for (None: the
    server's default, as --duration=0 asks)."""
    from kubectl.timefmt import parse_duration
    try:
        seconds = parse_duration(duration) if duration else 0.0
    except ValueError as e:
        raise CLIError(f'invalid argument "{duration}" for "--duration" flag: time: {e}') from None
    if seconds < 0:
        raise CLIError("--duration must be greater than or equal to 0")
    if seconds != int(seconds):
        raise CLIError("--duration cannot be expressed in units less than seconds")
    if any(not a for a in audiences):
        raise CLIError("--audience must not be an empty string")
    if not bound_kind:
        if bound_name:
            raise CLIError("--bound-object-name can only be set if --bound-object-kind is provided")
        if bound_uid:
            raise CLIError("--bound-object-uid can only be set if --bound-object-kind is provided")
    else:
        if bound_kind not in BOUND_OBJECT_KINDS:
            raise CLIError(f"supported --bound-object-kind values are {', '.join(BOUND_OBJECT_KINDS)}")
        if not bound_name:
            raise CLIError("--bound-object-name is required if --bound-object-kind is provided")
    return int(seconds) or None


@create.command("token")
@click.argument("name")
@click.option("--duration", default="", help="Requested lifetime of the issued token (e.g. 10m, 1h). The server "
              "may return a token with a longer or shorter lifetime.")
@click.option("--audience", "audiences", multiple=True, help="Audience of the requested token. If unset, defaults "
              "to requesting a token for use with the Kubernetes API server. May be repeated to request a token "
              "valid for multiple audiences.")
@click.option("--bound-object-kind", "bound_kind", default="", help="Kind of an object to bind the token to. "
              "Supported kinds are Pod.")
@click.option("--bound-object-name", "bound_name", default="", help="Name of an object to bind the token to. The "
              "token will expire when the object is deleted.")
@click.option("--bound-object-uid", "bound_uid", default="", help="UID of an object to bind the token to.")
@click.option("-o", "--output", default=None, type=click.Choice(["json", "yaml"]), help="Output format.")
@global_options
def create_token(name: str, duration: str, audiences: tuple[str, ...], bound_kind: str, bound_name: str,
                 bound_uid: str, output: str | None) -> None:
    """Request a service account token.

    \b
    Examples:
      kubelab create token myapp
      kubelab create token myapp --namespace myns
      kubelab create token myapp --duration 10m
      kubelab create token myapp --audience https://example.com
      kubelab create token myapp --bound-object-kind Pod --bound-object-name mypod
    """
    from kubectl.context import run, stdout_write
    seconds = token_options(duration, audiences, bound_kind, bound_name, bound_uid)
    namespace = settings().current_namespace()
    resp = run(lambda c: c.create_token(name, namespace, list(audiences), seconds, bound_kind, bound_name,
                                        bound_uid))
    if output is None:
        stdout_write(resp.token + "\n")
        return
    spec: dict[str, Any] = {"audiences": list(resp.audiences), "boundObjectRef": None,
                            "expirationSeconds": resp.expiration_seconds}
    if resp.HasField("bound_object_ref"):
        ref = resp.bound_object_ref
        spec["boundObjectRef"] = {"kind": ref.kind, "apiVersion": ref.api_version, "name": ref.name, "uid": ref.uid}
    doc = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
           "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None}, "spec": spec,
           "status": {"token": resp.token, "expirationTimestamp": resp.expiration_timestamp}}
    from kubectl import printers
    stdout_write(printers.dump_json(doc) if output == "json" else printers.dump_yaml(doc))


__all__ = ["create", "policy_rules", "subjects", "token_options"]
