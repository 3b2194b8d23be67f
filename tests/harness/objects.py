"""A stand-in for the apiserver store's `get`, over a few objects held in memory (for tests that drive the
apiserver's streaming path to a kubelet without etcd)."""
from __future__ import annotations

from typing import Any

from kubelab import errors


class Objects:
    """The store's get, over a few objects."""

    def __init__(self, *objs: Any) -> None:
        self.objs = {(o.kind, o.metadata.namespace, o.metadata.name): o for o in objs}

    async def get(self, kind: str, namespace: str, name: str) -> Any:
        try:
            return self.objs[(kind, namespace, name)]
        except KeyError:
            raise errors.NotFound(f'{kind.lower()}s "{name}" not found') from None
