"""Resource arguments as kubectl reads them.

    get pods                  -> [(Pod, [])]
    get pod,service           -> [(Pod, []), (Service, [])]
    get pod x y               -> [(Pod, [x, y])]
    get pod/x service/y       -> [(Pod, [x]), (Service, [y])]
    get deployments/cowweb    -> [(Deployment, [cowweb])]
    get all                   -> pods, services, deployments, replicasets
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl.context import CLIError
from kubelab import kinds

ALL = kinds.CATEGORY_ALL


@dataclass
class Target:
    info: Any                       # kubelab.kinds.KindInfo
    names: list[str] = field(default_factory=list)


@dataclass
class Request:
    targets: list[Target]
    single_item: bool               # one object named: -o yaml prints it, not a List
    multi_kind: bool                # print `pod/NAME` style names


def lookup(name: str) -> Any:
    from kubelab import kinds
    try:
        return kinds.lookup(name)
    except kinds.UnknownKind as e:
        raise CLIError(str(e)) from None


def _kinds(text: str) -> list[Any]:
    out: list[Any] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part == "all":
            out += [lookup(n) for n in ALL]
        else:
            out.append(lookup(part))
    seen: list[Any] = []
    for i in out:
        if i not in seen:
            seen.append(i)
    return seen


def parse(args: tuple[str, ...] | list[str], allow_empty: bool = False, selector: str = "") -> Request:
    """The targets of `args`; `selector` is the verb's -l or --field-selector, if any.

    Names and a selector together are refused for every verb, as kubectl's resource builder
    does: the named object would otherwise be acted on whether it matches or not."""
    req = _parse([a for a in args if a != ""], allow_empty)
    if selector and any(t.names for t in req.targets):
        raise CLIError("name cannot be provided when a selector is specified")
    return req


def _parse(args: list[str], allow_empty: bool) -> Request:
    if not args:
        if allow_empty:
            return Request([], False, False)
        raise CLIError("you must specify the type of resource to get. Use \"kubelab api-resources\" "
                       "for a complete list of supported resources.")
    if any("/" in a for a in args):
        if not all("/" in a for a in args):
            raise CLIError("there is no need to specify a resource type as a separate argument when "
                           "passing arguments in resource/name form (e.g. 'kubelab get resource/<resource_name>' "
                           "instead of 'kubelab get resource resource/<resource_name>'")
        targets: list[Target] = []
        for a in args:
            kind, _, name = a.partition("/")
            if not kind or not name:
                raise CLIError(f'arguments in resource/name form must have a single resource and name: "{a}"')
            info = lookup(kind)
            existing = next((t for t in targets if t.info is info), None)
            if existing is None:
                targets.append(Target(info, [name]))
            else:
                existing.names.append(name)
        return Request(targets, single_item=len(args) == 1, multi_kind=len(targets) > 1 or
                       args[0].split("/")[0] == "all")
    infos = _kinds(args[0])
    names = list(args[1:])
    if not infos:
        raise CLIError(f'the server doesn\'t have a resource type "{args[0]}"')
    multi = len(infos) > 1 or "all" in args[0].split(",")
    return Request([Target(i, list(names)) for i in infos],
                   single_item=len(infos) == 1 and len(names) == 1, multi_kind=multi)


def check_selector(selector: str, field: bool = False) -> None:
    """Reject a malformed -l / --field-selector here, with the parser's message, before any request."""
    if not selector:
        return
    from kubelab import selectors
    try:
        if field:
            selectors.parse_field_selector(selector)
        else:
            selectors.parse(selector)
    except selectors.SelectorError as e:
        raise CLIError(str(e)) from None


Named = tuple[Any, str, "str | None"]   # (kind info, name, namespace or None for cluster-scoped)


def select(filenames: tuple[str, ...] | list[str], args: tuple[str, ...] | list[str], selector: str, all_: bool,
           namespace: str, explicit_namespace: bool) -> tuple[list[Named], list[Any]]:
    """What a verb acts on, from `-f` files or `KIND NAME...`/`KIND -l`/`KIND --all`.

    Returns the named objects and the kinds to list (with the selector or --all);
    a kind with neither names nor a selector is kubectl's usage error.
    """
    named: list[Named] = []
    listed: list[Any] = []
    if filenames:
        from kubectl.apply import load_manifests, place
        from kubelab import kinds
        for d in load_manifests(filenames, False):
            place(d.obj, namespace, explicit=explicit_namespace)
            named.append((kinds.info_of(d.obj), d.obj.metadata.name, d.obj.metadata.namespace or None))
        return named, listed
    for t in parse(args, selector=selector).targets:
        ns = namespace if t.info.namespaced else None
        if t.names:
            named += [(t.info, n, ns) for n in t.names]
        elif selector or all_:
            listed.append(t.info)
        else:
            raise CLIError("resource(s) were provided, but no name was specified")
    return named, listed


async def names_of(client: Any, named: list[Named], listed: list[Any], namespace: str,
                   selector: str) -> list[tuple[Any, str]]:
    """(kind info, name) for the named objects, then for those of each listed kind the selector matches."""
    items = [(info, name) for info, name, _ns in named]
    for info in listed:
        objs, _ = await client.list(info.kind, namespace, label_selector=selector)
        items += [(info, o.metadata.name) for o in sorted(objs, key=lambda o: o.metadata.name)]
    return items
