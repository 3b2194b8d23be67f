"""Images: is it on the engine, must it be pulled (imagePullPolicy), and the pull back-off.

Where it sits: the pod worker (`kubelet.worker`) calls `ImagePuller.ensure` before it creates a
container and `present` for the pause image; pulls go through `kubelet.docker_runtime`. The outcome says
what the container shows while it waits (ErrImagePull, ImagePullBackOff, ErrImageNeverPull) and when to
look again; the events are Kubernetes' (Pulling, Pulled, Failed, BackOff).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from .backoff import Backoff
from .config import PodConfig
from .docker_runtime import DockerRuntime, RuntimeError_, normalise_image

log = logging.getLogger(__name__)

Record = Callable[[str, str, str], None]       # (type, reason, message): an Event on the pod


@dataclass(frozen=True)
class Pull:
    """The outcome of `ensure`: ok, or why the container waits and when to try again."""
    ok: bool
    waiting: tuple[str, str] | None = None
    retry_in: float | None = None


PULLED = Pull(True)


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
        """Make container `c`'s image available as its pull policy says (`name` is the pod's, for the log)."""
        image = c.image
        policy = c.image_pull_policy or "IfNotPresent"
        present = await self.present(image)
        local = any(normalise_image(image).startswith(p) for p in self.config.local_images)
        if policy == "Never":
            if not present:
                msg = f'Container image "{image}" is not present with pull policy of Never'
                record("Warning", "ErrImageNeverPull", msg)
                return Pull(False, ("ErrImageNeverPull", msg), self.config.backoff_base)
            record("Normal", "Pulled", f'Container image "{image}" already present on machine')
            return PULLED
        if present and (policy == "IfNotPresent" or local):
            record("Normal", "Pulled", f'Container image "{image}" already present on machine')
            return PULLED
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
            await self.runtime.pull(image)
        except RuntimeError_ as e:
            if present:
                # Offline engine, image built here: use what we have (the lab cannot pull at all).
                record("Normal", "Pulled", f'Container image "{image}" already present on machine '
                                           f'(pull failed: {e.message})')
                return PULLED
            now = time.time()
            self.failed_at[key] = now
            self.backoff.next(key, now)
            msg = f'Failed to pull image "{image}": {e.message}'
            log.info("%s: %s", name, msg)
            record("Warning", "Failed", msg)
            record("Warning", "Failed", "Error: ErrImagePull")
            # Show ErrImagePull for a moment, then ImagePullBackOff until the back-off expires.
            return Pull(False, ("ErrImagePull", msg), min(2.0, self.backoff.remaining(key, now)))
        took = time.monotonic() - t0
        record("Normal", "Pulled", f'Successfully pulled image "{image}" in {took:.3f}s')
        return PULLED
