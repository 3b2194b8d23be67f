"""The node proxy (`kubelab-proxy`): userspace TCP forwarding for ClusterIPs and NodePorts, no iptables.

`balancer` picks backends (pure: round robin, ClientIP affinity, down
marks), `tcp` forwards connections, `netlink` puts ClusterIPs on the node's
loopback, `server` ties them to the Service and Endpoints informers, `main`
is the CLI. See proxy/README.md for the ClusterIP design and its figures.
"""
