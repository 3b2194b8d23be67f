"""kubelab's kubelet: the node agent (`kubelab-kubelet`).

- main.py      the CLI (flags → Config); server.py the process life cycle (Kubelet, HollowNodes)
- node.py      registering the Node and heartbeating its status (shared by every runtime)
- hollow.py    a SIMULATED kubelet for tests and scale: many fake nodes in one
               process, pods "run" without containers (`kubelab-kubelet --runtime hollow`)
- status.py    the pod status computed from what a runtime reports (pure; both kubelets use it)
- the Docker runtime (real containers): manager.py → worker.py (with sandbox.py,
  pulls.py, hooks.py, environment.py, status_manager.py), probes, volumes,
  streaming, all over docker_runtime.py; README.md draws it.
"""
