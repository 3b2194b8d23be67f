"""kubelab's kubelet: the node agent (`kubelab-kubelet`).

- main.py      the CLI (flags → Config); server.py the process life cycle (Kubelet, HollowNodes)
- node.py      registering the Node and heartbeating its status (shared by every runtime)
- hollow.py    a SIMULATED kubelet for tests and scale: many fake nodes in one
               process, pods "run" without containers (`python -m kubelet.hollow`)
- the Docker runtime (real containers: pod workers, probes, volumes, streaming)
  lives in its own modules beside these.
"""
