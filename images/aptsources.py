"""The machine's own Debian apt sources, as images/build.py puts them into kubelab/base.

No mirror is written anywhere in the project: the base image's sources are the host's, read here at build
time (deb822 `.sources` first, else one-line `.list`), limited to the host's suite family so third-party
repositories stay out of the image. Standard library only (build.py loads this file by path).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class AptSourcesError(RuntimeError):
    pass


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas, cur, key = [], {}, None
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if cur:
                stanzas.append(cur)
            cur, key = {}, None
            continue
        if raw[0] in " \t" and key:
            cur[key] += "\n " + raw.strip()  # a continuation line (e.g. an inline key)
            continue
        if ":" in raw:
            key, _, val = raw.partition(":")
            key = key.strip().lower()
            cur[key] = val.strip()
    if cur:
        stanzas.append(cur)
    return stanzas


def _suite_family(suite: str, base_suite: str) -> bool:
    return suite == base_suite or suite.startswith(base_suite + "-") or suite.startswith(base_suite + "/")


_DEB822_NAMES = {"types": "Types", "uris": "URIs", "suites": "Suites", "components": "Components",
                 "signed-by": "Signed-By", "architectures": "Architectures"}


@dataclass
class AptSources:
    text: str        # what goes into the image's sources
    fmt: str         # "deb822" or "one-line"
    suite: str


def read_apt_sources(etc_apt: Path = Path("/etc/apt")) -> AptSources:
    """The host's own Debian sources (deb822 .sources first, else one-line .list).

    The suite is the first word of the first Suites: line (or of the first deb
    line). Only the stanzas/lines of that suite's family (bookworm,
    bookworm-updates, bookworm-security, ...) are kept, so that third-party
    repositories configured on the host stay out of the image.
    """
    d = etc_apt / "sources.list.d"
    sources_files = sorted(d.glob("*.sources")) if d.is_dir() else []
    stanzas = []
    for f in sources_files:
        stanzas += _deb822_stanzas(f.read_text())
    stanzas = [s for s in stanzas
               if "deb" in s.get("types", "").split() and s.get("enabled", "yes").lower() != "no"
               and s.get("suites") and s.get("uris")]
    if stanzas:
        suite = stanzas[0]["suites"].split()[0]
        kept = []
        for s in stanzas:
            suites = [x for x in s["suites"].split() if _suite_family(x, suite)]
            if not suites or s["uris"].startswith("cdrom:"):
                continue
            s = dict(s, types="deb", suites=" ".join(suites))
            order = ["types", "uris", "suites", "components"]
            keys = order + sorted(k for k in s if k not in order)
            kept.append("\n".join(f"{_DEB822_NAMES.get(k, k.title())}: {s[k]}" for k in keys if k in s))
        text = "\n\n".join(kept) + "\n"
        return AptSources(text, "deb822", suite)

    lines = []
    for f in [etc_apt / "sources.list"] + (sorted(d.glob("*.list")) if d.is_dir() else []):
        if f.is_file():
            for line in f.read_text().splitlines():
                line = line.split("#", 1)[0].strip()
                if line.startswith("deb "):
                    lines.append(line)
    if not lines:
        raise AptSourcesError("no Debian apt sources found in /etc/apt/sources.list(.d): "
                         "kubelab/base takes its mirror from them")

    def suite_of(line: str) -> str:
        words = line.split()
        i = 1
        if words[i].startswith("["):
            while not words[i].endswith("]"):
                i += 1
            i += 1
        return words[i + 1]

    suite = suite_of(lines[0])
    kept = [ln for ln in lines if _suite_family(suite_of(ln), suite) and "cdrom:" not in ln]
    return AptSources("\n".join(kept) + "\n", "one-line", suite)
