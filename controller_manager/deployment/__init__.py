"""The Deployment controller, split by concern as Kubernetes' is.

    controller.py  handlers (Deployment, ReplicaSet, Pod -> deployment key) and the sync dispatch
    sync.py        new ReplicaSet (find/create, revisions), scaling, history cleanup, status
    rolling.py     RollingUpdate steps
    recreate.py    Recreate steps
    rollback.py    rollback to an earlier template
    progress.py    Progressing condition, progressDeadlineSeconds, paused/resumed
    util.py        the pure arithmetic (maxSurge/maxUnavailable with a worked example, hashes, plans)
"""
from .controller import DeploymentController

__all__ = ["DeploymentController"]
