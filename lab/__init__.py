"""Tooling that runs a kubelab lab: not a component, not the shared library.

    lab/local.py    `kubelab cluster up|down --local`: etcd and the control plane as processes on
                    loopback (the integration tests and benchmarks start their clusters with it)
    lab/compose.py  `kubelab cluster up|down`: the compose lab on the Docker engine (images, then
                    compose.yaml), and the commands its containers run (`python -m lab.compose ...`)
    lab/pki.py      the lab's CA and the certificates it signs (etcd's, the apiserver's), as files
                    the components' flags name: no component imports it

The CLI (`kubectl/cluster.py`) and the test harnesses import this package; no component does.
It imports only `kubelab/` (the catalogue of images, the kubeconfig, the client).
"""
