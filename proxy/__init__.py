"""The node proxy (`kubelab-proxy`): userspace TCP and UDP forwarding for ClusterIPs and NodePorts, no iptables.

`balancer` picks backends (pure: round robin, ClientIP affinity, down
marks), `tcp` forwards connections, `udp` relays datagram sessions,
`netlink` puts ClusterIPs on the node's loopback, `report` tells the
apiserver when this proxy began sending to which pods (for `kubelab trace`),
`server` ties them to the Service and Endpoints informers, `main` is the
CLI. `lb` is the HA lab's load balancer in front of the apiservers: the same
`tcp` and `balancer` over a fixed list of backends (`python -m proxy.lb`). See proxy/README.md for the ClusterIP design and its figures.
"""
