"""docs/tutorial.md, walked with the real kubectl beside `kubelab`: the commands, read from the doc at test time,
and what "the same outcome" means for them. Used by tests/e2e/test_tutorial_kubectl.py (the compose lab) and
tests/integration/test_tutorial_kubectl_local.py (`cluster up --local`, hollow nodes: the API part).

Each tool works in a world of its own (its own kubeconfig whose context names its own namespace, which stands
for the doc's `default`, and its own copy of the tutorial's `handson` namespace: `world_namespace`), so a command that creates something says `created` to both; what
differs between the worlds only by name (namespaces, generated pod names, addresses, ages) is normalised away
before comparing. Cluster-wide steps (drain, uncordon) run one tool after the other.

What is compared: the exit code always; for tables the header line exactly and the rows once normalised (as
a multiset: rows that tie on time come in the server's order, which is by random name); for `describe` every
line once normalised, with the Events rows as a multiset; for the rest the output once normalised.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lab.local import free_port
from tests.walk_io import first_line_matching, http_get, http_until, lines_for, stop

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "tutorial.md"
SEEDS = ROOT / "tests" / "fixtures" / "seeds"


# ---------------------------------------------------------------- the doc's commands
@dataclass(frozen=True)
class Command:
    text: str           # as the doc writes it, its trailing comment left out
    section: str        # the `##` heading it sits under
    line: int           # 1-based line number in docs/tutorial.md
    inline: bool        # in running text (`kubelab ...`) rather than a code block


def doc_commands(text: str | None = None) -> list[Command]:
    """Every `kubelab` command of the tutorial, in order: code-block lines (4-space indented; 6 spaces is what
    the reader types inside a pod), a commented alternative (`# seed 003: kubelab ...`), each part of
    `a; b`, and the `kubelab ...` spans of the running text."""
    text = DOC.read_text() if text is None else text
    section, out = "", []
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            section = line.lstrip("#").strip()
            continue
        if line.startswith("    ") and not line.startswith("      "):
            body = line.strip()
            if body.startswith("#"):
                m = re.search(r"(kubelab .*)$", body)
                parts = [m.group(1)] if m else []
            else:
                parts = re.split(r"\s{2,}#", body)[0].strip().split("; ")
            out += [Command(p.strip(), section, n, False) for p in parts if "kubelab " in p]
        else:
            out += [Command(m.group(1), section, n, True) for m in re.finditer(r"`(kubelab [^`]*)`", line)]
    return out


def in_pod_lines(text: str, after_line: int) -> list[str]:
    """The 6-space indented lines right after line `after_line`: what the tutorial types into the shell
    `kubelab exec -it ...` opened."""
    lines = text.splitlines()[after_line:]
    out = []
    for line in lines:
        if not line.startswith("      "):
            break
        out.append(line.strip().split("  #")[0].rstrip())
    return out


# ---------------------------------------------------------------- running a tool
@dataclass
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


@dataclass
class Tool:
    """One client in its world: argv prefix, environment (its kubeconfig), and the names its world uses."""
    name: str
    argv: list[str]
    env: dict[str, str]
    world: str                                   # suffix of the world's namespaces: "k" (kubectl) or "l"
    vars: dict[str, str] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return f"tut-{self.world}"

    @property
    def handson(self) -> str:
        return f"handson-{self.world}"

    def run(self, args: list[str], input: str | None = None, timeout: float = 120) -> Result:
        stdin = {} if input is not None else {"stdin": subprocess.DEVNULL}     # never the test runner's terminal
        p = subprocess.run(self.argv + args, env=self.env, input=input, capture_output=True, text=True,
                           timeout=timeout, **stdin)
        return Result(p.returncode, p.stdout, p.stderr)

    def popen(self, args: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv + args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True)

    def names(self) -> dict[str, str]:
        """World-specific names → what they stand for in the other world."""
        return {self.handson: "handson", self.namespace: "<ns>"}


def kubectl_tool(binary: Path, kube_config: Path, home: Path, world: str, name: str) -> Tool:
    """The real kubectl with a copy of `kube_config` in a home of its own (it keeps a cache there)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config"
    config.write_bytes(kube_config.read_bytes())
    env = {"PATH": "/usr/bin:/bin", "KUBECONFIG": str(config), "HOME": str(home)}
    return Tool(name, [str(binary)], env, world)


def kubelab_tool(kubelab_config: Path, kube_config: Path, home: Path, world: str) -> Tool:
    """`python -m kubectl` (the CLI users call kubelab) with copies of its config and of the kubeconfig
    `cluster up` wrote (its `proxy` serves the HTTP API named there)."""
    import sys
    home.mkdir(parents=True, exist_ok=True)
    config, kube = home / "kubeconfig", home / "kube-config"
    config.write_bytes(kubelab_config.read_bytes())
    kube.write_bytes(kube_config.read_bytes())
    env = {**os.environ, "KUBELAB_CONFIG": str(config), "KUBECONFIG": str(kube), "HOME": str(home),
           "PYTHONPATH": str(ROOT)}
    return Tool("kubelab", [sys.executable, "-m", "kubectl"], env, world)


# ---------------------------------------------------------------- normalising
# A generated pod name: its controller's name (a Deployment's with the pod-template-hash, which is the same in
# both worlds for the same template) and five random characters.
_SUFFIXED = re.compile(r"\b([a-z][a-z0-9-]*?-[0-9a-f]{6,10}|nginx-replicaset)-[a-z0-9]{5}\b")
_AGE = re.compile(r"^(?:\d+[smhd])+$|^<invalid>$")
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(?:hollow-node-\d+|node\d)\b"), "<node>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "<ip>"),
    (re.compile(r"\b\d{2,5}:\d{5}/TCP"), "<port>:<nodeport>/TCP"),
    (re.compile(r"(NodePort:\s+\S+\s+)3\d{4}/"), r"\1<nodeport>/"),
    (re.compile(r"\b(?:hollow|docker|containerd)://[0-9a-f]+"), "<container-id>"),
    (re.compile(r"\bsha256:[0-9a-f]{64}"), "sha256:<digest>"),
    (re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"), "<time>"),
    (re.compile(r"\b\d+(?:\.\d+)?(?:ms|s|m|h)(?:\d+(?:\.\d+)?(?:ms|s|m))*\b"), "<age>"),
    (re.compile(r"\(x\d+ over <age>\)"), "(xN over <age>)"),
    # the ServiceAccount token volume's name ends in five random characters, as Kubernetes' admission names it
    (re.compile(r"\bkube-api-access-[a-z0-9]{5}\b"), "kube-api-access-<random>"),
]


def normalise(text: str, tool: Tool) -> str:
    for own, common in sorted(tool.names().items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf"\b{re.escape(own)}\b", common, text)
    for name, value in tool.vars.items():
        if value and name in ("CONTEXT",):
            text = re.sub(rf'"{re.escape(value)}"', '"<context>"', text)
    text = _SUFFIXED.sub(r"\1-<hash>", text)
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text


def table(text: str) -> tuple[str, list[str]]:
    """(header, rows) of one `get` table (several kinds give blank-line separated tables: kept as rows)."""
    lines = text.splitlines()
    return (lines[0] if lines else ""), lines[1:]


def cells(row: str) -> list[str]:
    return [("<age>" if _AGE.match(c) else c) for c in re.split(r"\s{2,}", row.strip())]


def _status(cell_text: str) -> str:
    # a pod that cannot pull shows one reason, then the other: the same state to a reader
    return "<pull-error>" if cell_text in ("ErrImagePull", "ImagePullBackOff") else cell_text


def table_view(r: Result, tool: Tool) -> tuple[int, str, Counter[tuple[str, ...]], str]:
    header, rows = table(normalise(r.out, tool))
    return (r.code, re.sub(r"\s+", " ", header).strip(),
            Counter(tuple(_status(c) for c in cells(row)) for row in rows if row.strip()),
            normalise(r.err, tool))


def describe_view(r: Result, tool: Tool) -> tuple[int, list[str], Counter[str], str]:
    """Lines outside the Events tables in order; the Events rows as a multiset (ties on time come in name
    order, and names are random)."""
    lines = [re.sub(r"\s+", " ", ln).rstrip() for ln in normalise(r.out, tool).splitlines()]
    head, events, in_events = [], [], False
    for ln in lines:
        if in_events and ln.startswith(" ") and not ln.strip().startswith(("Type ", "----")):
            # Which world's pod pulled an image first and which found it on its node depends on where they ran
            if not re.match(r" Normal Pulling ", ln):
                events.append(re.sub(r"(Normal Pulled .*?: ).*", r"\1<image pulled or present>", ln))
            continue
        in_events = ln.startswith("Events:") or (in_events and ln.startswith(" "))
        head.append(ln)
    return r.code, head, Counter(events), normalise(r.err, tool)


def text_view(r: Result, tool: Tool) -> tuple[int, str, str]:
    return r.code, normalise(r.out, tool), normalise(r.err, tool)


def _output(args: list[str]) -> str:
    """The -o/--output value of a command line ("" when none)."""
    for i, a in enumerate(args):
        if a in ("-o", "--output") and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(("-o=", "--output=")):
            return a.split("=", 1)[1]
        if a.startswith("-o") and len(a) > 2:
            return a[2:]
    return ""


def view_for(args: list[str]) -> Callable[[Result, Tool], object]:
    verb = args[0]
    if verb == "describe":
        return describe_view
    if verb == "get" and _output(args) in ("", "wide"):
        return table_view
    return text_view


def eventually_same(run_a: Callable[[], Result], tool_a: Tool, run_b: Callable[[], Result], tool_b: Tool,
                    view: Callable[[Result, Tool], object], timeout: float,
                    settled: Callable[[Result, Result], bool] = lambda a, b: True) -> tuple[Result, Result]:
    """Both worlds converge: run both until their views agree (and `settled` holds), or fail with the last
    difference. Reads only: a command that writes runs once (see `once_same`)."""
    deadline = time.monotonic() + timeout
    while True:
        a, b = run_a(), run_b()
        va, vb = view(a, tool_a), view(b, tool_b)
        if va == vb and settled(a, b):
            return a, b
        if time.monotonic() > deadline:
            raise AssertionError(f"{tool_a.name} and {tool_b.name} differ:\n{tool_a.name}: {a}\n"
                                 f"{tool_b.name}: {b}\n--- normalised, as a diff\n{_diff(va, vb)}")
        time.sleep(1)


def once_same(a: Result, tool_a: Tool, b: Result, tool_b: Tool, view: Callable[[Result, Tool], object]) -> None:
    va, vb = view(a, tool_a), view(b, tool_b)
    assert va == vb, (f"{tool_a.name} and {tool_b.name} differ:\n{tool_a.name}: {a}\n{tool_b.name}: {b}\n"
                      f"--- normalised, as a diff\n{_diff(va, vb)}")


def _diff(va: object, vb: object) -> str:
    import difflib
    import pprint
    return "\n".join(difflib.unified_diff(pprint.pformat(va, width=140).splitlines(),
                                          pprint.pformat(vb, width=140).splitlines(), lineterm="", n=1))


# ---------------------------------------------------------------- the seeds' manifests by the doc's file names
# The tutorial names files as the seeds do; the fixtures hold them (second `nginx-service.yaml` = the NodePort one).
MANIFESTS: dict[tuple[str, int], str] = {
    ("cowweb.yaml", 1): "000-01-deployment-cowweb.yaml",
    ("cowweb-service.yaml", 1): "000-02-service-cowweb.yaml",
    ("nginx-pod.yaml", 1): "001-03-pod-my-first-pod.yaml",
    ("bastion.yaml", 1): "001-04-pod-bastion.yaml",
    ("nginx-service.yaml", 1): "001-05-service-my-first-service.yaml",
    ("nginx-replicaset.yaml", 1): "001-06-replicaset-nginx-replicaset.yaml",
    ("nginx-deployment.yaml", 1): "001-07-deployment-nginx-deployment.yaml",
    ("nginx-service.yaml", 2): "001-08-service-my-first-service.yaml",
    ("frontend-pdb.yaml", 1): "001-13-poddisruptionbudget-nginx-pdb.yaml",
    ("sample-healthcheck.yaml", 1): "001-09-pod-sample-healthcheck.yaml",
    ("sample-volume.yaml", 1): "001-11-pod-nginx.yaml",
}
# Seed 000's image is one the reader builds and pushes (`docker build -t handson-001/cowweb:v1.0`; test_registry
# does that): here a catalogue image that answers on the same port stands in for it.
IMAGE_STAND_INS = {"image: cowweb:v1.0": "image: jocatalin/kubernetes-bootcamp:v1"}


# One node address carries a LoadBalancer port once (the lab's ServiceLB, as k3s'): the other world's cowweb
# would stay <pending> behind this one, so kubectl's world serves it on port 81 (PORT(S) is normalised).
WORLD_CHANGES = {("cowweb-service.yaml", "k"): ("port: 80", "port: 81")}


def manifest(doc_name: str, occurrence: int, into: Path, world: str = "") -> Path:
    text = (SEEDS / MANIFESTS[(doc_name, occurrence)]).read_text()
    for a, b in IMAGE_STAND_INS.items():
        text = text.replace(a, b)
    if (doc_name, world) in WORLD_CHANGES:
        text = text.replace(*WORLD_CHANGES[(doc_name, world)])
    into.mkdir(parents=True, exist_ok=True)
    path = into / f"{occurrence}-{doc_name}"
    path.write_text(text)
    return path


# ---------------------------------------------------------------- what the walk does not run, and why
# Verbs kubectl does not have: kubelab's own.
KUBELAB_ONLY_VERBS = ("cluster", "image", "trace", "dashboard")
# Mentions in running text that are not commands by themselves.
MENTIONS = {"kubelab apply", "kubelab describe", "kubelab describe pod"}
# The doc says kubelab differs here, on purpose; the walk asserts that difference instead of sameness.
DOCUMENTED_DIFFERENCES = {
    "kubelab run kubernetes-bootcamp --image=gcr.io/google-samples/kubernetes-bootcamp:v1 --port=8080 "
    "--generator=deployment/apps.v1":
        "kubectl 1.37 has no --generator (unknown flag); kubectl 1.20 ignores it and makes a Pod; kubelab makes "
        "the Deployment seed 002 expects (the doc's table says so). The walk runs seed 003's `create deployment`.",
}


def verb_of(cmd: Command) -> str:
    words = shlex.split(cmd.text.replace("$(", " ").replace(")", " ")) if "'" in cmd.text else cmd.text.split()
    after = words[words.index("kubelab") + 1:] if "kubelab" in words else []
    return after[0] if after else ""


def not_kubectl(cmd: Command) -> str | None:
    """Why the real kubectl cannot run this doc command at all (None: it can)."""
    if cmd.text in MENTIONS:
        return "a mention in running text, not a command"
    if verb_of(cmd) in KUBELAB_ONLY_VERBS:
        return f"`{verb_of(cmd)}` is kubelab's own verb: kubectl has none"
    return DOCUMENTED_DIFFERENCES.get(cmd.text)


# ---------------------------------------------------------------- the walk
STREAMING_VERBS = ("exec", "logs", "port-forward", "attach")
# Known differences not fixed yet: the walk asserts what each tool does today, so fixing one fails the walk
# until the entry goes (and the step then asserts sameness).
KNOWN_DIFFERENCES = {
}


def world_namespace(tool: Tool, doc_ns: str) -> str:
    """The doc's namespace as `tool`'s world has it: `handson` is the world's copy of it, `default` the world's
    own namespace (the lab's `default` is shared with other tests; a world's pods are alone in its own)."""
    worlds = {"handson": tool.handson, "default": tool.namespace}
    assert doc_ns in worlds, f"the doc names namespace {doc_ns!r}: the walk has no world copy of it"
    return worlds[doc_ns]


class Walk:
    """docs/tutorial.md in order with `a` (kubectl 1.37) and `b` (kubelab) in worlds of their own; `old`
    (kubectl 1.20, in a's world) where the seeds' era matters. `containers`: real containers behind the pods
    (the compose lab) or hollow nodes (the API part only)."""

    def __init__(self, a: Tool, b: Tool, old: Tool | None, tmp: Path, containers: bool, settle: float = 180):
        self.a, self.b, self.old, self.tmp, self.containers, self.settle = a, b, old, tmp, containers, settle
        self.text = DOC.read_text()
        self.ran: list[tuple[Command, str]] = []          # (command, how it was compared)
        self.skipped: list[tuple[Command, str]] = []      # (command, why not)
        self.seen: Counter[str] = Counter()
        self.proxies: dict[str, tuple[subprocess.Popen[str], str]] = {}
        self.context_ns: dict[str, str] = {}               # tool name -> the namespace its context names

    # -------------------------------------------------- helpers
    def both(self) -> tuple[Tool, Tool]:
        return self.a, self.b

    def args(self, tool: Tool, text: str) -> list[str]:
        """The doc's command as `tool` runs it in its world: placeholders and variables filled in."""
        for name, value in tool.vars.items():
            text = text.replace(f"${name}", value)
        words = shlex.split(text)
        assert words[0] == "kubelab", text
        out = []
        for w in words[1:]:
            w = re.sub(r"\bhandson\b", tool.handson, w) if "handson" in w and "handson-001" not in w else w
            out.append(w)
        if "-f" in out:
            i = out.index("-f")
            doc_name = out[i + 1]
            out[i + 1] = str(manifest(doc_name, self.seen[f"{tool.name}:{doc_name}"] or 1, self.tmp / tool.name,
                                      tool.world))
        return out

    def pods(self, tool: Tool, prefix: str, ns: list[str] | None = None) -> list[str]:
        r = tool.run(["get", "pods", "-o", "name", *(ns or [])])
        assert r.code == 0, r
        return sorted(n.split("/", 1)[1] for n in r.out.split() if n.split("/", 1)[1].startswith(prefix))

    def wait_pods(self, prefix: str, n: int | None = None, running: bool = True) -> None:
        """Both worlds have their pods named `prefix...` (`n` of them), Running and Ready: a placeholder such as
        `<pod>` names one of them."""
        def ready(tool: Tool) -> bool:
            r = tool.run(["get", "pods", "--no-headers"])
            rows = [ln.split() for ln in r.out.splitlines() if ln.startswith(prefix)]
            ok = bool(rows) and (n is None or len(rows) == n)
            if running:
                ok = ok and all(row[2] == "Running" and row[1].split("/")[0] == row[1].split("/")[1] for row in rows)
            return ok
        deadline = time.monotonic() + self.settle
        while not (ready(self.a) and ready(self.b)):
            if time.monotonic() > deadline:
                raise AssertionError(f"pods {prefix}* not Running in both worlds:\n"
                                     f"{self.a.run(['get', 'pods']).out}\n{self.b.run(['get', 'pods']).out}")
            time.sleep(1)

    def compare(self, cmd: Command, reads: bool, args_of: Callable[[Tool], list[str]] | None = None,
                view: Callable[[Result, Tool], object] | None = None, input: str | None = None,
                settled: Callable[[Result, Result], bool] = lambda a, b: True, a: Tool | None = None,
                pipe: Callable[[str], str] | None = None) -> tuple[Result, Result]:
        a = a or self.a
        args_of = args_of or (lambda t: self.args(t, cmd.text))
        va, vb = args_of(a), args_of(self.b)
        view = view or view_for(va)

        def run(tool: Tool, args: list[str]) -> Callable[[], Result]:
            def go() -> Result:
                r = tool.run(args, input=input, timeout=300)
                return Result(r.code, pipe(r.out), r.err) if pipe else r
            return go
        if reads:
            ra, rb = eventually_same(run(a, va), a, run(self.b, vb), self.b, view, self.settle, settled)
        else:
            ra, rb = run(a, va)(), run(self.b, vb)()
            once_same(ra, a, rb, self.b, view)
        self.ran.append((cmd, f"{a.name} vs kubelab: {view.__name__}"))
        return ra, rb

    def skip(self, cmd: Command, why: str) -> None:
        self.skipped.append((cmd, why))

    # -------------------------------------------------- the walk
    def run(self) -> None:
        commands = doc_commands(self.text)
        for cmd in commands:
            self.seen[cmd.text] += 1
            why = not_kubectl(cmd)
            if why and cmd.text not in DOCUMENTED_DIFFERENCES:
                self.skip(cmd, why)
                continue
            if not self.containers and self._needs_containers(cmd):
                self.skip(cmd, "needs containers behind the pods: hollow nodes run none (the e2e walk runs it)")
                continue
            self.step(cmd)
        for proc, _ in self.proxies.values():
            stop(proc)

    @staticmethod
    def _needs_containers(cmd: Command) -> bool:
        return verb_of(cmd) in STREAMING_VERBS

    def step(self, cmd: Command) -> None:
        t = cmd.text
        verb = verb_of(cmd)
        for name in ("cowweb.yaml", "cowweb-service.yaml", "nginx-pod.yaml", "bastion.yaml", "nginx-service.yaml",
                     "nginx-replicaset.yaml", "nginx-deployment.yaml", "frontend-pdb.yaml"):
            if t == f"kubelab apply -f {name}":
                for tool in self.both():
                    self.seen[f"{tool.name}:{name}"] += 1
                return self.apply(cmd, name)
        if t in DOCUMENTED_DIFFERENCES:
            return self.run_generator(cmd)
        if t.startswith("kubelab config set-context $(kubelab config current-context)"):
            return self.set_context(cmd)
        if t == "kubelab proxy &":
            return self.proxy(cmd)
        if t.startswith("export "):
            return self.export(cmd)
        if verb in ("drain", "uncordon"):
            return self.drain(cmd)
        if t == "kubelab version":
            return self.version(cmd)
        if t.endswith("--watch"):
            return self.watch(cmd)
        if verb == "port-forward":
            return self.port_forward(cmd)
        if verb == "exec":
            return self.exec(cmd)
        if verb == "logs":
            return self.logs(cmd)
        if "|" in t:
            command, _, grep = t.partition(" | grep ")
            self._setup_for(cmd)
            self.compare(cmd, True, args_of=lambda tool: self.args(tool, self._fill(tool, command)),
                         view=text_view, pipe=lambda out: "".join(ln + "\n" for ln in out.splitlines()
                                                                  if grep in ln),
                         settled=lambda a, b: "v10" not in a.out)
            return None
        return self.plain(cmd)

    # -------------------------------------------------- placeholders
    def _fill(self, tool: Tool, text: str) -> str:
        if "<pod>" in text:
            prefix = "cowweb" if "Seed 000" in self._section(text) else "nginx-deployment"
            text = text.replace("<pod>", self.pods(tool, prefix)[0])
        if "<one of them>" in text:
            text = text.replace("<one of them>", self.pods(tool, "nginx-replicaset")[0])
        if "<node>" in text:
            text = text.replace("<node>", self.node)
        return text

    def _section(self, text: str) -> str:
        return self.current.section if self.current is not None else ""

    current: Command | None = None
    node = ""

    def _setup_for(self, cmd: Command) -> None:
        """What the running text has the reader do before a command (a manifest it names, not a command)."""
        self.current = cmd
        if "sample-healthcheck" in cmd.text and not self.seen["setup:healthcheck"]:
            self.seen["setup:healthcheck"] += 1
            self._apply_quietly("sample-healthcheck.yaml")
            self.wait_pods("sample-healthcheck", running=self.containers)
        if cmd.text == "kubelab logs nginx -c fluentd" and not self.seen["setup:volume"]:
            self.seen["setup:volume"] += 1
            self._apply_quietly("sample-volume.yaml")
            self.wait_pods("nginx", running=True)

    def _apply_quietly(self, doc_name: str) -> None:
        for tool in self.both():
            r = tool.run(["apply", "-f", str(manifest(doc_name, 1, self.tmp / tool.name))])
            assert r.code == 0, r

    def _waits_for(self, cmd: Command) -> None:
        t = cmd.text
        if "<pod>" in t and "Seed 000" in cmd.section:
            self.wait_pods("cowweb-", running=True)
        elif "<pod>" in t:
            self.wait_pods("nginx-deployment-", running=True)
        elif "<one of them>" in t:
            self.wait_pods("nginx-replicaset-", running=True)
        elif "$POD_NAME" in t:
            self.wait_pods("kubernetes-bootcamp-", running=True)

    # -------------------------------------------------- the steps
    def plain(self, cmd: Command) -> None:
        self.current = cmd
        self._setup_for(cmd)
        self._waits_for(cmd)
        verb = verb_of(cmd)
        reads = verb in ("get", "describe", "version")
        settled: Callable[[Result, Result], bool] = lambda a, b: True
        if cmd.text == "kubelab get pods":          # after `set image ... :v10`: one pod failing to pull, one serving
            settled = lambda a, b: all(
                sorted(_status(ln.split()[2]) for ln in r.out.splitlines() if ln.startswith("kubernetes-bootcamp-"))
                == ["<pull-error>", "Running"] for r in (a, b))
        elif cmd.text == "kubelab get pods -o wide":  # after `scale --replicas=4`
            settled = lambda a, b: all(
                [ln.split()[2] for ln in r.out.splitlines() if ln.startswith("kubernetes-bootcamp-")] == ["Running"] * 4
                for r in (a, b))
        if verb == "rollout" and "status" in cmd.text:
            ra, rb = self.compare(cmd, False, view=lambda r, t: (r.code, normalise(r.out, t).splitlines()[-1:]))
            return None
        self.compare(cmd, reads, args_of=lambda tool: self.args(tool, self._fill(tool, cmd.text)), settled=settled)
        if cmd.text == "kubelab delete replicaset nginx-replicaset":
            self._gone("nginx-replicaset-")

    def _gone(self, prefix: str) -> None:
        deadline = time.monotonic() + self.settle
        while any(self.pods(t, prefix) for t in self.both()):
            assert time.monotonic() < deadline, f"pods {prefix}* still there"
            time.sleep(1)

    def apply(self, cmd: Command, name: str) -> None:
        self.current = cmd
        if name == "frontend-pdb.yaml":
            return self.apply_pdb(cmd)
        if name == "nginx-service.yaml" and self.seen[f"{self.a.name}:{name}"] == 2:
            return self.apply_node_port(cmd)
        self.compare(cmd, False)

    def apply_pdb(self, cmd: Command) -> None:
        """Seed 001's `apiVersion: policy/v1beta1` PDB as written, with both: the same outcome, but for the
        Warning the API server sends kubectl for that deprecated version (kubelab's CLI reads it as policy/v1)."""
        warning = ("Warning: policy/v1beta1 PodDisruptionBudget is deprecated in v1.21+, unavailable in v1.25+; "
                   "use policy/v1 PodDisruptionBudget\n")

        def without_warning(r: Result, tool: Tool) -> object:
            code, out, err = text_view(r, tool)
            return code, out, err.replace(warning, "")
        ra, _ = self.compare(cmd, False, view=without_warning)
        assert warning in ra.err, ra

    def apply_node_port(self, cmd: Command) -> None:
        """`nodePort: 30000` is one port for the whole cluster: kubectl's world takes it first and gives it back
        (deleting its Service), then kubelab's world takes it."""
        ra = self.a.run(self.args(self.a, cmd.text))
        r = self.a.run(["delete", "service", "my-first-service"])
        assert r.code == 0, r
        rb = self.b.run(self.args(self.b, cmd.text))
        once_same(ra, self.a, rb, self.b, text_view)
        assert rb.out == "service/my-first-service configured\n", rb
        self.ran.append((cmd, "kubectl vs kubelab one after the other (nodePort 30000 is cluster-wide)"))
        if self.containers:
            ips = [c for c in self.b.run(["get", "nodes", "-o", "jsonpath={.items[*].status.addresses[0].address}"]
                                         ).out.split()]
            for ip in ips:      # curl -i http://<node INTERNAL-IP>:30000/
                status, body = http_until(f"http://{ip}:30000/",
                                          lambda s, b: s == 200 and "Welcome to nginx!" in b, self.settle)
                assert status == 200 and "Welcome to nginx!" in body, (ip, status, body[:300])

    def run_generator(self, cmd: Command) -> None:
        r = self.a.run(self.args(self.a, cmd.text))
        assert r.code == 1 and "unknown flag: --generator" in r.err, r
        self.ran.append((cmd, "documented difference: kubectl 1.37 refuses --generator (asserted); "
                              "the doc's seed-003 line `create deployment` runs next on both"))

    def set_context(self, cmd: Command) -> None:
        """`config set-context $(... current-context) --namespace=NS`: each tool's context moves to its world's
        NS (world_namespace); the doc's later URLs name NS too (`namespace_of`)."""
        doc_ns = re.search(r"--namespace=(\S+)", cmd.text)
        assert doc_ns, cmd
        results = []
        for tool in self.both():
            current = tool.run(["config", "current-context"])
            assert current.code == 0, current
            tool.vars["CONTEXT"] = current.out.strip()
            ns = world_namespace(tool, doc_ns.group(1))
            results.append(tool.run(["config", "set-context", tool.vars["CONTEXT"], f"--namespace={ns}"]))
            self.context_ns[tool.name] = ns
        once_same(results[0], self.a, results[1], self.b, text_view)
        assert results[1].out == f'Context "{self.b.vars["CONTEXT"]}" modified.\n', results[1]
        self.ran.append((cmd, f"kubectl vs kubelab: text_view, each with its own current-context "
                              f"(namespace {doc_ns.group(1)}: {self.a.name} {self.context_ns[self.a.name]}, "
                              f"kubelab {self.context_ns[self.b.name]})"))

    def namespace_of(self, tool: Tool) -> str:
        """The namespace `tool`'s context names now (its world's own until the doc's first set-context)."""
        return self.context_ns.get(tool.name, tool.namespace)

    def version(self, cmd: Command) -> None:
        ra, rb = self.a.run(["version"]), self.b.run(["version"])
        server = [ln for ln in ra.out.splitlines() if ln.startswith("Server Version:")]
        assert (ra.code, rb.code) == (0, 0) and server, (ra, rb)
        assert server == [ln for ln in rb.out.splitlines() if ln.startswith("Server Version:")], (ra, rb)
        self.ran.append((cmd, "same exit code and Server Version line (the Client Versions differ by nature)"))

    def export(self, cmd: Command) -> None:
        var, _, inner = cmd.text[len("export "):].partition("=$(")
        inner = inner[:-1]
        self._waits_for(Command("$POD_NAME", cmd.section, cmd.line, False))
        view = text_view if var != "NODE_PORT" else (lambda r, t: (r.code, re.sub(r"^3\d{4}$", "<nodeport>", r.out),
                                                                      r.err))
        ra, rb = self.compare(cmd, True, args_of=lambda tool: self.args(tool, inner), view=view)
        if var == "POD_NAME":
            # the shell's $(...) as the reader has it: the namespace's pods, one name a line. The bootcamp's pods
            # are alone in its namespace, so that is one name, the bootcamp pod's (a second line would make
            # `kubelab logs $POD_NAME` two arguments)
            for r in (ra, rb):
                assert len(r.out.splitlines()) == 1 and r.out.startswith("kubernetes-bootcamp-"), r
        self.a.vars[var], self.b.vars[var] = ra.out.strip(), rb.out.strip()
        if var == "POD_NAME" and self.proxies and self.containers:
            # curl http://localhost:8001/api/v1/proxy/namespaces/default/pods/$POD_NAME/ (through each proxy;
            # `default` is the namespace the doc's context names, each world's own)
            for tool in self.both():
                _, base = self.proxies[tool.name]
                ns = self.namespace_of(tool)
                status, body = http_get(f"{base}/api/v1/proxy/namespaces/{ns}/pods/{tool.vars['POD_NAME']}/")
                page = f"Running on: {tool.vars['POD_NAME']} | v=1"
                if tool is self.a:
                    # KNOWN DIFFERENCE, deliberate: the tutorial's pre-1.10 URL is gone from Kubernetes, so
                    # the real `kubectl proxy` answers it 404; `kubelab proxy` sends it to the current one,
                    # which the real one serves (the pod's first containerPort: `create deployment --port=8080`)
                    assert status == 404 and '"reason":"NotFound"' in body, (tool.name, status, body)
                    status, body = http_get(f"{base}/api/v1/namespaces/{ns}/pods/{tool.vars['POD_NAME']}/proxy/")
                assert status == 200 and page in body, (tool.name, status, body)
        if var == "NODE_PORT":
            assert re.fullmatch(r"3\d{4}", self.a.vars[var]) and re.fullmatch(r"3\d{4}", self.b.vars[var])
            if self.containers:       # curl <node INTERNAL-IP>:$NODE_PORT, again and again: several pods answer
                ip = self.b.run(["get", "nodes", "-o", "jsonpath={.items[0].status.addresses[0].address}"]).out
                for tool in self.both():
                    url = f"http://{ip}:{tool.vars['NODE_PORT']}/"
                    status, body = http_until(url, lambda s, b: s == 200, self.settle)
                    assert status == 200, (tool.name, url, status, body)
                    seen = {http_get(f"http://{ip}:{tool.vars['NODE_PORT']}/")[1].strip() for _ in range(30)}
                    assert len(seen) > 1 and all("Running on: kubernetes-bootcamp-" in s for s in seen), seen

    def proxy(self, cmd: Command) -> None:
        """`kubelab proxy &` on a free port each (8001 may be taken on a shared machine); then the doc's curls."""
        outs = []
        for tool in self.both():
            proc = tool.popen(["proxy", "--port=0"])
            line = first_line_matching(proc, r"Starting to serve on", 30)
            base = "http://" + line.split()[-1]
            self.proxies[tool.name] = (proc, base)
            outs.append(re.sub(r":\d+$", ":<port>", line.strip()))
        assert outs[0] == outs[1], outs
        import json
        ja = json.loads(http_get(self.proxies[self.a.name][1] + "/version")[1])
        jb = json.loads(http_get(self.proxies[self.b.name][1] + "/version")[1])
        assert ja == jb and ja["gitVersion"].startswith("v1."), (ja, jb)
        pa = json.loads(http_get(self.proxies[self.a.name][1] + "/")[1])["paths"]
        pb = json.loads(http_get(self.proxies[self.b.name][1] + "/")[1])["paths"]
        assert pa == pb and "/api/v1" in pa, (pa, pb)
        self.ran.append((cmd, "both proxies: the same first line, /version and / through each"))

    def drain(self, cmd: Command) -> None:
        """Cluster-wide: kubectl drains and uncordons, then kubelab does the same on the same node."""
        if not self.node:
            # the bastion's node: a pod no controller owns is there, so both drains stop at the same place (an
            # eviction by the first would move pods the second then does not find)
            self.node = self.a.run(["get", "pod", "bastion", "-o", "jsonpath={.spec.nodeName}"]).out.strip()
            assert self.node, "the bastion pod has no node"
        if verb_of(cmd) == "uncordon":
            return None      # done with its drain, each tool right after its own
        drain = shlex.split(self._fill(self.a, cmd.text))[1:] + ["--timeout=240s"]
        results = []
        for tool in self.both():
            results.append(tool.run(drain, timeout=300))
            results.append(tool.run(["uncordon", self.node]))

        def view(r: Result, tool: Tool) -> object:
            # the node holds both worlds' pods: either world's names read alike
            other = self.b if tool is self.a else self.a
            out, err = (normalise(normalise(x, tool), other) for x in (r.out, r.err))
            # kubectl gathers the refusals in a Go map: their order varies from run to run
            m = re.search(r"due to error: \[(.*)\], continuing", err)
            if m:
                err = err.replace(m.group(1), " | ".join(sorted(re.split(r", (?=cannot )", m.group(1)))))
            return r.code, sorted(set(out.splitlines())), sorted(err.splitlines())
        once_same(results[0], self.a, results[2], self.b, view)
        once_same(results[1], self.a, results[3], self.b, text_view)
        assert results[3].out == f"node/{self.node} uncordoned\n", results[3]
        self.ran.append((cmd, "kubectl drain+uncordon, then kubelab's, on one node: outputs as sets of lines"))
        uncordon = next(c for c in doc_commands(self.text) if verb_of(c) == "uncordon")
        self.ran.append((uncordon, "right after each tool's drain (see drain)"))

    def watch(self, cmd: Command) -> None:
        """A `--watch` never ends: the first lines (header and a row), then Ctrl-C."""
        self._setup_for(cmd)
        args = self.args(self.a, cmd.text)
        got = []
        for tool in self.both():
            got.append(lines_for(tool.popen(args), 2, 60))
        ha, hb = [table_view(Result(0, "".join(g), ""), t) for g, t in zip(got, self.both())]
        assert ha[1] == hb[1] and len(got[0]) == len(got[1]) == 2, got
        if "sample-healthcheck" in cmd.text:
            assert [r[0] for r in ha[2]] == [r[0] for r in hb[2]] == ["sample-healthcheck"], (ha, hb)
            if self.containers:
                self._restarts_rise()
        self.ran.append((cmd, "the first two lines of each watch: same header, same object"))

    def _restarts_rise(self) -> None:
        """The doc: removing the page makes the liveness probe fail and RESTARTS rise (in both worlds)."""
        deadline = time.monotonic() + self.settle
        while True:
            rows = [table_view(t.run(["get", "pods", "sample-healthcheck"]), t)[2] for t in self.both()]
            restarts = [int(next(iter(r))[3].split()[0]) for r in rows]
            if all(n >= 1 for n in restarts):
                return
            assert time.monotonic() < deadline, rows
            time.sleep(2)

    # -------------------------------------------------- streaming (real containers)
    def exec(self, cmd: Command) -> None:
        self.current = cmd
        self._setup_for(cmd)
        self._waits_for(cmd)
        for pod in ("my-first-pod", "bastion"):
            if f" {pod} " in cmd.text:
                self.wait_pods(pod, running=True)
        interactive = " -it " in cmd.text or " -ti " in cmd.text
        old_form = " -- " not in cmd.text
        typed = [self._fill_ip(ln) for ln in in_pod_lines(self.text, cmd.line)] if interactive else []
        a = self.a
        if old_form:
            # `exec POD CMD` without `--`: the seeds' form, refused by kubectl 1.37, taken by 1.20 and kubelab
            r = self.a.run(self.args(self.a, self._fill(self.a, cmd.text)))
            assert r.code == 1 and "exec [POD] [COMMAND] is not supported anymore" in r.err, r
            assert self.old is not None
            a = self.old
            self.old.vars.update(self.a.vars)
        # what the reader types into the shell (the doc's indented lines; else a look around), then exit
        script = "".join(ln + "\n" for ln in (typed or ["hostname"]) + ["exit"]) if interactive else None

        checks_http = "curl -i" in cmd.text or any("curl -i" in ln for ln in typed)

        def view(r: Result, tool: Tool) -> object:
            out = normalise(r.out, tool)
            if "env" in cmd.text.split():
                # kubectl's world serves cowweb on 81 (WORLD_CHANGES): its service variables say so
                lines = [ln.replace("81", "80") if ln.startswith("COWWEB_") else ln for ln in out.splitlines()]
                return r.code, sorted(ln for ln in lines if not ln.startswith("HOME="))
            if checks_http:
                # what the reader looks at: the status line and the server
                return r.code, [ln.strip() for ln in out.splitlines()
                                if ln.startswith("HTTP/1.1") or ln.startswith("Server:")]
            return r.code, out if not typed else ""
        ra, rb = self.compare(cmd, False, args_of=lambda tool: self.args(tool, self._fill(tool, cmd.text)),
                              view=view, input=script, a=a)
        if checks_http:
            assert "HTTP/1.1 200 OK" in rb.out and "Server: nginx" in rb.out, rb
        if old_form:
            self.ran[-1] = (cmd, "kubectl 1.37 refuses the form without `--` (asserted); kubectl 1.20 vs kubelab")

    def _fill_ip(self, line: str) -> str:
        if "<my-first-pod IP>" not in line:
            return line
        ip = self.b.run(["get", "pod", "my-first-pod", "-o", "jsonpath={.status.podIP}"]).out
        return line.replace("<my-first-pod IP>", ip)

    def logs(self, cmd: Command) -> None:
        self.current = cmd
        self._setup_for(cmd)
        self._waits_for(cmd)
        if "component=nginx" in cmd.text:
            self.wait_pods("nginx-deployment-", running=True)

        def view(r: Result, tool: Tool) -> object:
            return r.code, normalise(r.err, tool)
        self.compare(cmd, True, args_of=lambda tool: self.args(tool, self._fill(tool, cmd.text)), view=view)
        if self.old is not None:
            old = self.old
            old.vars.update(self.a.vars)
            self.compare(cmd, True, args_of=lambda tool: self.args(tool, self._fill(tool if tool is not old
                                                                                    else self.a, cmd.text)),
                         view=view, a=old)

    def port_forward(self, cmd: Command) -> None:
        """`port-forward deployment/nginx-deployment 8080:80` then `curl localhost:8080`, on a free port each."""
        self.wait_pods("nginx-deployment-", running=True)
        for tool in [self.a] + ([self.old] if self.old else []):
            lines = []
            for t in (tool, self.b):
                port = free_port()
                proc = t.popen(self.args(t, cmd.text.replace("8080:80", f"{port}:80")))
                try:
                    line = first_line_matching(proc, r"Forwarding from", 60)
                    status, body = http_get(f"http://127.0.0.1:{port}/")
                    assert status == 200 and "Welcome to nginx!" in body, (t.name, status, body[:300])
                finally:
                    stop(proc)
                lines.append(line.replace(str(port), "<port>").strip())
            assert lines[0] == lines[1], lines
            self.ran.append((cmd, f"{tool.name} vs kubelab: the Forwarding line and the page through it"))
