"""The kubelet's image manager: image references, the lab's registry mirror, pull policies, the pull back-off.

Where it sits: the pod worker (`kubelet.worker`) calls `ImagePuller.ensure` before it creates a container
(and runs the image it returns) and `present` for the pause image; pulls go through
`kubelet.docker_runtime`. The outcome says what the container shows while it waits (InvalidImageName,
ErrImagePull, ImagePullBackOff, ErrImageNeverPull) and when to look again.

Kubernetes' `EnsureImageExists` (pkg/kubelet/images/image_manager.go), for the Docker runtime:

- **References** are parsed as Docker's distribution/reference does (`parse_normalized`): a bad one
  (`Nginx:1.16`, `nginx:`, a malformed digest) never reaches the engine; the container waits with
  `InvalidImageName` and the event `Failed to apply default image tag "Nginx:1.16": couldn't parse image
  reference "Nginx:1.16": invalid reference format: repository name (library/Nginx) must be lowercase`.
  (The apiserver, like kube-apiserver, only checks that the field is set and, on pods, has no leading or
  trailing whitespace.)
- **The mirror**: a name the lab's catalogue serves (`kubelab.catalogue.STAND_INS`: `nginx:1.16`,
  `jocatalin/kubernetes-bootcamp:v1`, ...; `docker.io/` and `library/` prefixes mean the same image) is
  pulled from the lab registry as `localhost:5000/<normalised name>`, as k3s' registries.yaml mirrors do;
  the pod keeps the name the user wrote. Any repository the catalogue mirrors is pulled there, so a tag it
  lacks (`:v10`) fails with the registry's own words, as a missing tag on Docker Hub does.
- **Pull policies**: `Never` uses what the engine has or waits with ErrImageNeverPull; `IfNotPresent`
  pulls only when absent; `Always` pulls every time (the engine compares the registry's manifest digest
  with what it has and downloads nothing when unchanged). A failed pull is a failed pull, even when an
  older copy is on the engine. Only the lab's own `kubelab/` images, which no registry holds, are used
  as they are while present.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from kubelab.catalogue import mirrored, mirrored_repositories

from .backoff import Backoff
from .config import PodConfig
from .docker_runtime import DockerRuntime, RuntimeError_

log = logging.getLogger(__name__)

Record = Callable[[str, str, str], None]       # (type, reason, message): an Event on the pod

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255

# distribution/reference's grammar (regexp.go), anchored.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANCHORED_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


class InvalidReference(ValueError):
    """A reference Docker's parser refuses; str() is its message."""


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def _split_docker_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    first = name[:i] if i >= 0 else ""
    if i < 0 or (not any(ch in first for ch in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1:]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def _check_digest(d: str) -> None:
    algorithm, _, hexpart = d.partition(":")
    if algorithm not in _DIGEST_LENGTHS:
        raise InvalidReference("unsupported digest algorithm")
    if len(hexpart) != _DIGEST_LENGTHS[algorithm]:
        raise InvalidReference("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise InvalidReference("invalid checksum digest format")


def parse(s: str) -> Reference:
    """distribution/reference.Parse: the grammar, with its error words."""
    m = _REFERENCE.match(s)
    if m is None:
        if not s:
            raise InvalidReference("repository name must have at least one component")
        if _REFERENCE.match(s.lower()):
            raise InvalidReference("invalid reference format: repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    name, tag, dig = m.group(1), m.group(2) or "", m.group(3) or ""
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    if dig:
        _check_digest(dig)
    domain, _, path = name.partition("/") if "/" in name else ("", "", name)
    return Reference(domain, path, tag, dig)


def parse_normalized(s: str) -> Reference:
    """distribution/reference.ParseNormalizedNamed: `nginx` → docker.io/library/nginx."""
    if _ANCHORED_IDENTIFIER.match(s):
        raise InvalidReference(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_docker_domain(s)
    remote = remainder.split(":", 1)[0] if ":" in remainder else remainder
    if remote.lower() != remote:
        raise InvalidReference(f"invalid reference format: repository name ({remote}) must be lowercase")
    ref = parse(f"{domain}/{remainder}")
    return Reference(domain, ref.name[len(domain) + 1:], ref.tag, ref.digest)


def with_default_tag(image: str) -> Reference:
    """The kubelet's applyDefaultImageTag: the normalised reference, `:latest` when it has no tag or digest.
    Raises InvalidReference with the kubelet's message."""
    try:
        ref = parse_normalized(image)
    except InvalidReference as e:
        raise InvalidReference(f'Failed to apply default image tag "{image}": '
                               f'couldn\'t parse image reference "{image}": {e}') from None
    if not ref.tag and not ref.digest:
        ref = Reference(ref.domain, ref.path, "latest", "")
    return ref


def pull_target(image: str) -> str:
    """What the engine pulls and runs for `image`: the lab registry's copy for a repository the catalogue
    mirrors, else the name as written. `image` must parse (with_default_tag)."""
    ref = with_default_tag(image)
    if ref.name in mirrored_repositories():
        return mirrored(str(ref))
    return image


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() of a duration truncated to milliseconds: `512ms`, `1.234s`, `1m2.5s`."""
    ms = int(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{secs}" if minutes else secs


@dataclass(frozen=True)
class Pull:
    """The outcome of `ensure`: the image to run, or why the container waits and when to try again."""
    ok: bool
    waiting: tuple[str, str] | None = None
    retry_in: float | None = None
    image: str = ""                 # what the engine runs: the lab registry's copy for a mirrored name


class ImagePuller:
    def __init__(self, config: PodConfig, runtime: DockerRuntime) -> None:
        self.config = config
        self.runtime = runtime
        self.backoff = Backoff(config.backoff_base, config.backoff_max)
        self.failed_at: dict[str, float] = {}
        self._seen: dict[str, float] = {}

    async def present(self, ref: str) -> bool:
        """Is the image on the engine? (A yes is believed for a few seconds: starting a burst of
        pods of one image asks once, not once per pod.)"""
        now = time.monotonic()
        seen = self._seen.get(ref)
        if seen is not None and now - seen < 5.0:
            return True
        present = await self.runtime.inspect_image(ref) is not None
        if present:
            self._seen[ref] = now
        else:
            self._seen.pop(ref, None)
        return present

    def forget(self, uid: str) -> None:
        self.backoff.forget_prefix(uid + "/")

    async def ensure(self, uid: str, name: str, c: Any, record: Record) -> Pull:
        """EnsureImageExists for container `c` (`name` is the pod's, for the log): the image to run, or why
        the container waits (with the events Kubernetes records)."""
        image = c.image
        try:
            target = pull_target(image)
        except InvalidReference as e:
            record("Warning", "InspectFailed", str(e))
            record("Warning", "Failed", "Error: InvalidImageName")
            return Pull(False, ("InvalidImageName", str(e)), self.config.backoff_base)
        policy = c.image_pull_policy or "IfNotPresent"
        present = await self.present(target)
        local = target == image and any(image.startswith(p) for p in self.config.local_images)
        if policy == "Never" or (present and (policy == "IfNotPresent" or local)):
            if present:
                record("Normal", "Pulled", f'Container image "{image}" already present on machine')
                return Pull(True, image=target)
            msg = f'Container image "{image}" is not present with pull policy of Never'
            record("Warning", "ErrImageNeverPull", msg)
            record("Warning", "Failed", "Error: ErrImageNeverPull")
            return Pull(False, ("ErrImageNeverPull", msg), self.config.backoff_base)
        key = f"{uid}/image/{image}"
        wait = self.backoff.remaining(key, self.failed_at.get(key, 0.0))
        if wait > 0:
            msg = f'Back-off pulling image "{image}"'
            record("Normal", "BackOff", msg)
            record("Warning", "Failed", "Error: ImagePullBackOff")
            return Pull(False, ("ImagePullBackOff", msg), wait + 0.05)
        record("Normal", "Pulling", f'Pulling image "{image}"')
        t0 = time.monotonic()
        try:
            info = await self.runtime.pull(target)
        except RuntimeError_ as e:
            now = time.time()
            self.failed_at[key] = now
            self.backoff.next(key, now)
            log.info("%s: failed to pull image %s: %s", name, image, e.message)
            record("Warning", "Failed", f'Failed to pull image "{image}": {e.message}')
            record("Warning", "Failed", "Error: ErrImagePull")
            # Show ErrImagePull for a moment, then ImagePullBackOff until the back-off expires.
            return Pull(False, ("ErrImagePull", e.message), min(2.0, self.backoff.remaining(key, now)))
        took = go_duration(time.monotonic() - t0)
        record("Normal", "Pulled", f'Successfully pulled image "{image}" in {took} ({took} including waiting). '
                                   f'Image size: {int(info.get("Size") or 0)} bytes.')
        return Pull(True, image=target)
