"""Cluster DNS (`kubelab-dns`): Services and Endpoints → A/SRV/CNAME answers for `<svc>.<ns>.svc.<domain>`.

`records` holds the pure name logic, `server` the UDP/TCP server and its
informers, `main` the CLI. Other names are forwarded upstream or refused.
"""
