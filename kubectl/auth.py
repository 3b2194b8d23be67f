"""`kubelab auth can-i` and `kubelab auth whoami`, as kubectl's.

can-i asks the apiserver's SelfSubjectAccessReview (over gRPC) whether the caller, or whom it impersonates
with `--as`/`--as-group` (allowed only to who may `impersonate`, as in Kubernetes), may do VERB on a
resource or a non-resource URL; it prints yes or no and exits 0 or 1 as kubectl does. whoami prints what
the apiserver authenticated the caller as.
"""
from __future__ import annotations

from typing import Any

import click

from kubectl.context import CLIError, Failed, global_options, out, run, settings, stdout_write
from kubectl.tabwriter import table

# kubectl's lists (pkg/cmd/auth/cani.go): a verb outside them is warned about, not refused.
RESOURCE_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "use", "bind",
                  "impersonate", "escalate", "*", "proxy")
NON_RESOURCE_VERBS = ("get", "put", "post", "head", "options", "delete", "patch", "*")


def _check_impersonation(as_user: str, as_groups: tuple[str, ...]) -> None:
    if as_groups and not as_user:
        raise CLIError("requesting groups or user-extra for  without impersonating a user")


def _resource(spec: str) -> tuple[str, str, str]:
    """TYPE or TYPE/NAME as (group, resource, name); an unknown type is warned about and asked as typed."""
    from kubelab import kinds
    type_, _, name = spec.partition("/")
    try:
        info = kinds.lookup(type_)
        return info.group, info.plural, name
    except kinds.UnknownKind:
        resource, _, group = type_.partition(".")
        click.echo(f"Warning: the server doesn't have a resource type '{resource}'", err=True)
        return group, resource, name


@click.group("auth")
def auth() -> None:
    """Inspect authorization."""


@auth.command("can-i")
@click.argument("verb")
@click.argument("target", required=False)
@click.argument("name_arg", required=False)
@click.option("-A", "--all-namespaces", is_flag=True, help="Check in all namespaces.")
@click.option("--subresource", default="", help="SubResource such as pod/log or deployment/scale.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing; the exit code says the answer.")
@click.option("--as", "as_user", default="", help="Username to impersonate for the operation.")
@click.option("--as-group", "as_groups", multiple=True, help="Group to impersonate (repeatable).")
@global_options
def can_i(verb: str, target: str | None, name_arg: str | None, all_namespaces: bool, subresource: str, quiet: bool,
          as_user: str, as_groups: tuple[str, ...]) -> None:
    """Check whether an action is allowed.

    \b
    Examples:
      kubelab auth can-i create pods --all-namespaces
      kubelab auth can-i list deployments.apps -n dev
      kubelab auth can-i get pods --as view
      kubelab auth can-i get /version
    """
    from kubelab import access
    from kubelab.v1 import api_pb2 as api
    if not target:
        raise CLIError("you must specify two arguments: verb resource or verb resource/resourceName.")
    req = api.AccessReviewRequest()
    if target.startswith("/"):
        if verb not in NON_RESOURCE_VERBS:
            click.echo(f"Warning: verb '{verb}' is not a known verb", err=True)
        req.non_resource_attributes.CopyFrom(api.NonResourceAttributes(path=target, verb=verb))
    else:
        if verb not in RESOURCE_VERBS:
            click.echo(f"Warning: verb '{verb}' is not a known verb", err=True)
        group, resource, name = _resource(target)
        namespace = "" if all_namespaces else settings().current_namespace()
        req.resource_attributes.CopyFrom(api.ResourceAttributes(
            namespace=namespace, verb=verb, group=group, resource=resource, subresource=subresource,
            name=name or name_arg or ""))
    _check_impersonation(as_user, as_groups)
    status = run(lambda client: access.access_review(client, req, as_user, as_groups))
    if not quiet:
        line = "yes" if status.allowed else "no"
        if not status.allowed and status.reason:
            line += f" - {status.reason}"
        if status.evaluation_error:
            line += f" - {status.evaluation_error}"
        out(line)
    if not status.allowed:
        raise Failed(1)


@auth.command("whoami")
@click.option("-o", "--output", default=None, help="Output format: json|yaml.")
@click.option("--as", "as_user", default="", help="Username to impersonate for the operation.")
@click.option("--as-group", "as_groups", multiple=True, help="Group to impersonate (repeatable).")
@global_options
def whoami(output: str | None, as_user: str, as_groups: tuple[str, ...]) -> None:
    """Print who the API server takes you for (kubectl auth whoami)."""
    from kubelab import access
    _check_impersonation(as_user, as_groups)
    info = run(lambda client: access.whoami(client, as_user, as_groups))
    user: dict[str, Any] = {"username": info.username}
    if info.uid:
        user["uid"] = info.uid
    user["groups"] = list(info.groups)
    if info.extra:
        user["extra"] = {e.key: list(e.values) for e in info.extra}
    if output in ("json", "yaml"):
        doc = {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"creationTimestamp": None}, "status": {"userInfo": user}}
        from kubectl import printers
        stdout_write(printers.dump_json(doc) if output == "json" else printers.dump_yaml(doc))
        return
    if output:
        raise CLIError(f'unable to match a printer suitable for the output format "{output}", allowed formats '
                       f'are: json,yaml')
    rows = [["ATTRIBUTE", "VALUE"], ["Username", info.username]]
    if info.uid:
        rows.append(["UID", info.uid])
    rows.append(["Groups", "[" + " ".join(info.groups) + "]"])
    rows += [[f"Extra: {e.key}", "[" + " ".join(e.values) + "]"] for e in info.extra]
    stdout_write(table(rows))
