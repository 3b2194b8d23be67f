"""kubelab's API server: the only component that talks to etcd.

Pipeline of a write: gRPC handler (server.py) → the gate (authz/gate.py:
authentication by token, auth.py → impersonation → authorization, Node then
RBAC over the watch cache, authz/ → escalation check for RBAC objects) →
registry strategy for the kind (registry/<kind>.py: default, validate, prepare)
→ storage (one etcd transaction) → etcd's watch → watch cache (watchcache.py)
→ every watcher. Storage is the `storage.Storage` protocol: `storage.EtcdStorage`
in the server, `memstorage.MemoryStorage` under the unit tests.

Where things live:

    main.py, server.py    flags → Config; the process (ApiService: the API's gRPC calls) and its life cycle
    grpc_transport.py     the gRPC server, its method table and the wrapper every call wears (`translate`)
    http/                 the Kubernetes HTTP API (kubectl, client libraries), over the same calls and store
    auth.py, authz/       authentication (bearer tokens) and authorization (Node, RBAC)
    serviceaccount.py     ServiceAccount tokens (signed JWTs) and the ServiceAccount admission of pods
    store.py              every verb over storage, driven by the kind's strategy (registry/)
    registry/             per kind: defaulting, validation, what a write prepares
    fieldmanager.py       managedFields and server-side apply (pure)
    allocators.py         ClusterIPs and NodePorts, reserved in etcd with the Service
    storage.py, memstorage.py   the Storage protocol: etcd, and in memory for the unit tests
    watchcache.py         one etcd watch per kind, fanned out to every client watch
    builtin.py            what the apiserver writes at start (namespaces, bootstrap RBAC, `kubernetes` Service)
    checks.py             the request checks both front ends share
    kubelet_streams.py    logs, exec, port-forward and the pod proxy relayed to the pod's kubelet
    audit.py, audit_grpc.py   the audit log (policy, events) and the gRPC front end's side of it
    trace.py              the index behind `kubelab trace` and the dashboard's timelines
    metrics.py            Prometheus metrics, named as kube-apiserver names them
"""
