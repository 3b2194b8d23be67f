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
  (The apiserver refuses such a reference at apply, `Invalid value`, with the same parser,
  kubelab.imageref; a pod stored before that rule still meets this path, as does a hollow node's.)
- **The mirror**: a name the lab's catalogue serves (`kubelab.catalogue.STAND_INS`: `nginx:1.16`,
  `jocatalin/kubernetes-bootcamp:v1`, ...; `docker.io/` and `library/` prefixes mean the same image) is
  pulled from the lab's read-only mirror as `localhost:5001/<normalised name>`, as k3s' registries.yaml
  mirrors do; the pod keeps the name the user wrote. The mirror takes no push, and what users push to
  localhost:5000 (even under the same path) is never read for these names, so a stand-in cannot be
  silently replaced. Any repository the catalogue mirrors is pulled there, so a tag it lacks (`:v10`)
  fails with the registry's own words, as a missing tag on Docker Hub does.
- **Pull policies**: `Never` uses what the engine has or waits with ErrImageNeverPull; `IfNotPresent`
  pulls only when absent; `Always` pulls every time (the engine compares the registry's manifest digest
  with what it has and downloads nothing when unchanged). A failed pull is a failed pull, even when an
  older copy is on the engine. Only the lab's own `kubelab/` images, which no registry holds, are used
  as they are while present.
- **Back-off**: Kubernetes' image pull back-off, keyed by pod and image (base 10 s doubling to 300 s, from the
  start again after 2x300 s without a failure: `kubelet.backoff.Backoff`). `PullBackoff` keeps it with the last
  failure, and `pull_waiting` says what the container shows meanwhile: ErrImagePull with the error for 2 s,
  then ImagePullBackOff until the delay is over, then a new pull. The hollow kubelet (`kubelet.hollow`)
  asks the same `PullBackoff`, so a simulated node's pull back-off cannot drift from this one's.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from kubelab.catalogue import mirrored, mirrored_repositories
from kubelab.imageref import InvalidReference, with_default_tag
from kubelab.timeutil import Clock

from .backoff import Backoff
from .config import PodConfig
from .docker_runtime import DockerRuntime, RuntimeError_

log = logging.getLogger(__name__)

Record = Callable[[str, str, str], None]       # (type, reason, message): an Event on the pod


def invalid_image_name(image: str) -> str | None:
    """The container's `InvalidImageName` message for a reference Docker cannot parse, else None. Both
    kubelets (this one and the hollow one) show it so; the apiserver refuses such references at apply,
    but a pod stored before that rule (or written to etcd by hand) still reaches a kubelet."""
    try:
        with_default_tag(image)
    except InvalidReference as e:
        return str(e)
    return None


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


ERR_IMAGE_PULL_SHOWN = 2.0      # seconds a failed pull shows ErrImagePull before ImagePullBackOff

Waiting = tuple[str, str]       # (reason, message) a container shows while it waits


def pull_waiting(image: str, error: str, since_failure: float, delay: float) -> tuple[Waiting, float] | None:
    """What a container shows `since_failure` seconds after its pull of `image` failed with `error`, in a
    back-off of `delay` seconds, and for how many seconds more; None once the delay is over (pull again).
    ErrImagePull with the error first (for ERR_IMAGE_PULL_SHOWN, or the whole delay if shorter), then
    ImagePullBackOff until the delay is over."""
    if since_failure >= delay:
        return None
    shown = min(ERR_IMAGE_PULL_SHOWN, delay)
    if since_failure < shown:
        return ("ErrImagePull", error), shown - since_failure
    return ("ImagePullBackOff", f'Back-off pulling image "{image}"'), delay - since_failure


class PullBackoff:
    """The image pull back-off of a node's pods, keyed by pod and image as Kubernetes' image manager keys it,
    with each key's last failed pull. Times are the caller's clock (wall or monotonic, one of them)."""

    def __init__(self, base: float, cap: float) -> None:
        self.backoff = Backoff(base, cap)                   # asked only for next/delay: its clock is not read
        # pod uid -> image -> (when its last pull failed, the error): by pod, so forgetting a pod is cheap
        # (a hollow runner forgets thousands at a scale-down)
        self._failed: dict[str, dict[str, tuple[float, str]]] = {}

    @staticmethod
    def key(uid: str, image: str) -> str:
        return f"{uid}/image/{image}"

    def waiting(self, uid: str, image: str, now: float) -> tuple[Waiting, float] | None:
        """What the container shows at `now` and for how long, or None: pull now."""
        failed = self._failed.get(uid, {}).get(image)
        if failed is None:
            return None
        at, error = failed
        return pull_waiting(image, error, now - at, self.backoff.delay(self.key(uid, image)))

    def failed(self, uid: str, image: str, error: str, now: float) -> tuple[Waiting, float]:
        """A pull failed at `now`: the back-off grows (or starts again after a quiet 2×max); ErrImagePull."""
        delay = self.backoff.next(self.key(uid, image), now)
        self._failed.setdefault(uid, {})[image] = (now, error)
        shown = pull_waiting(image, error, 0.0, delay)
        assert shown is not None        # a delay is never 0 (base > 0)
        return shown

    def forget(self, uid: str) -> None:
        """The pod is gone: its back-off with it."""
        for image in self._failed.pop(uid, {}):
            self.backoff.forget(self.key(uid, image))


@dataclass(frozen=True)
class Pull:
    """The outcome of `ensure`: the image to run, or why the container waits and when to try again."""
    ok: bool
    waiting: Waiting | None = None
    retry_in: float | None = None
    image: str = ""                 # what the engine runs: the lab registry's copy for a mirrored name


class ImagePuller:
    def __init__(self, config: PodConfig, runtime: DockerRuntime, clock: Clock) -> None:
        self.config = config
        self.runtime = runtime
        self.clock = clock
        self.backoff = PullBackoff(config.backoff_base, config.backoff_max)
        self._seen: dict[str, float] = {}

    async def present(self, ref: str) -> bool:
        """Is the image on the engine? (A yes is believed for a few seconds: starting a burst of
        pods of one image asks once, not once per pod.)"""
        now = self.clock.now()
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
        self.backoff.forget(uid)

    async def ensure(self, uid: str, name: str, c: Any, record: Record) -> Pull:
        """EnsureImageExists for container `c` (`name` is the pod's, for the log): the image to run, or why
        the container waits (with the events Kubernetes records)."""
        image = c.image
        bad = invalid_image_name(image)
        if bad is not None:
            record("Warning", "InspectFailed", bad)
            record("Warning", "Failed", "Error: InvalidImageName")
            return Pull(False, ("InvalidImageName", bad), self.config.backoff_base)
        target = pull_target(image)
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
        backing_off = self.backoff.waiting(uid, image, self.clock())
        if backing_off is not None:
            waiting, left = backing_off
            if waiting[0] == "ImagePullBackOff":
                record("Normal", "BackOff", waiting[1])
                record("Warning", "Failed", "Error: ImagePullBackOff")
            return Pull(False, waiting, left + 0.05)
        record("Normal", "Pulling", f'Pulling image "{image}"')
        t0 = self.clock.now()
        try:
            info = await self.runtime.pull(target)
        except RuntimeError_ as e:
            log.info("%s: failed to pull image %s: %s", name, image, e.message)
            record("Warning", "Failed", f'Failed to pull image "{image}": {e.message}')
            record("Warning", "Failed", "Error: ErrImagePull")
            waiting, shown = self.backoff.failed(uid, image, e.message, self.clock())
            return Pull(False, waiting, shown)
        took = go_duration(self.clock.now() - t0)
        record("Normal", "Pulled", f'Successfully pulled image "{image}" in {took} ({took} including waiting). '
                                   f'Image size: {int(info.get("Size") or 0)} bytes.')
        return Pull(True, image=target)
