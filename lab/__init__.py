"""Tooling that runs a kubelab lab: not a component, not the shared library.

    lab/local.py    `kubelab cluster up|down --local`: etcd and the control plane as processes on
                    loopback (the integration tests and benchmarks start their clusters with it)
    lab/compose.py  `kubelab cluster up|down`: the compose lab on the Docker engine (images, then
                    compose.yaml), and the commands its containers run (`python -m lab.compose ...`)
    lab/pki.py      the lab's CA and the certificates it signs (etcd's, the apiserver's), as files
                    the components' flags name: no component imports it
    lab/identities.py   a credential per component and node, in Kubernetes' names (both launchers)
    lab/audit.py        the lab's pod containers against the API's pods (restart tests, the soak)
    lab/docker_store.py Docker's own count of a network's endpoints, read from dockerd's store (`down`)

The CLI (`kubectl/cluster.py`) and the test harnesses import this package; no component does.
It imports only `kubelab/` (the catalogue of images, the kubeconfig, the client).
"""
