"""`kubelab trace TYPE/NAME [-o json] [-w]`: one object and everything it caused, as the apiserver indexed it.

The apiserver builds the timeline (apiserver/trace.py, the Trace call); this prints it: a table of steps
(time, delay since the step before, component, identity, action, object, detail) and the critical path, or
the same steps as JSON (`-o json`, each with its `time`). `-w` asks again every second with the cursor of
the last answer and prints only the new steps, until interrupted.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from kubectl import resources
from kubectl.context import CLIError, global_options, out, run, settings
from kubectl.tabwriter import table

FOLLOW_INTERVAL = 1.0


def step_dict(s: Any) -> dict[str, Any]:
    """A TraceStep as the API's JSON spells it (apiserver.trace.step_json)."""
    return {"time": s.time, "component": s.component, "identity": s.identity, "action": s.action,
            "object": s.object, "delaySeconds": round(s.delay_seconds, 6), "detail": s.detail,
            "userAgent": s.user_agent, "seq": s.seq}


def trace_dict(kind: str, namespace: str, name: str, resp: Any) -> dict[str, Any]:
    return {"apiVersion": "kubelab.io/v1", "kind": "Trace",
            "object": {"kind": kind, "namespace": namespace, "name": name},
            "steps": [step_dict(s) for s in resp.steps], "criticalPath": resp.critical_path,
            "notes": list(resp.notes), "cursor": resp.cursor}


def _delay(seconds: float) -> str:
    return f"+{seconds * 1000:.0f}ms" if seconds < 1 else f"+{seconds:.1f}s"


def rows(steps: Any, header: bool = True) -> list[list[str]]:
    head = [["TIME", "DELAY", "COMPONENT", "IDENTITY", "ACTION", "OBJECT", "DETAIL"]] if header else []
    return head + [[s.time[11:23], _delay(s.delay_seconds), s.component or "-", s.identity or "-", s.action,
                    s.object, s.detail] for s in steps]


@click.command("trace")
@click.argument("args", nargs=-1)
@click.option("-o", "--output", default="", help="json: the steps as the API serves them.")
@click.option("-w", "--watch", is_flag=True, help="After the timeline, follow new steps as they happen.")
@global_options
def trace(args: tuple[str, ...], output: str, watch: bool) -> None:
    """Show one object and what it caused, across the control plane, in time order.

    \b
    Examples:
      kubelab trace deployment/web
      kubelab trace pod/web-7d4b9c-x2x9q -o json
      kubelab trace service/web -w
    """
    if output not in ("", "json"):
        raise CLIError(f'unable to match a printer suitable for the output format "{output}", '
                       'allowed formats are: json')
    req = resources.parse(args)
    targets = [(t.info, n) for t in req.targets for n in t.names]
    if len(targets) != 1:
        raise CLIError("trace takes exactly one TYPE/NAME")
    info, name = targets[0]
    st = settings()
    namespace = st.current_namespace() if info.namespaced else ""

    async def body(client: Any) -> None:
        resp = await client.trace(info.kind, name, namespace)
        if output == "json":
            out(json.dumps(trace_dict(info.kind, namespace, name, resp), indent=2))
        else:
            for note in resp.notes:
                out(f"Note: {note}")
            out(table(rows(resp.steps)).rstrip("\n"))
            out(f"Critical path: {resp.critical_path}")
        cursor = resp.cursor
        while watch:
            await asyncio.sleep(FOLLOW_INTERVAL)
            more = await client.trace(info.kind, name, namespace, since=cursor)
            cursor = more.cursor
            for s in more.steps:
                out(json.dumps(step_dict(s)) if output == "json" else table(rows([s], header=False)).rstrip("\n"))

    try:
        run(body)
    except KeyboardInterrupt:
        pass
