"""kubelab's API server: the only component that talks to etcd.

Pipeline of a write: gRPC handler (server.py) → the gate (authz/gate.py:
authentication by token, auth.py → impersonation → authorization, Node then
RBAC over the watch cache, authz/ → escalation check for RBAC objects) →
registry strategy for the kind (registry/<kind>.py: default, validate, prepare)
→ storage (one etcd transaction) → etcd's watch → watch cache (watchcache.py)
→ every watcher. Storage is the `storage.Storage` protocol: `storage.EtcdStorage`
in the server, `memstorage.MemoryStorage` under the unit tests.
"""
