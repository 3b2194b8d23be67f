"""kubelab's shared client library: what the components have in common, and nothing only one of them uses.

    v1/             generated API types (from proto/kubelab/v1)
    kinds.py        the kinds registry: each kind's group, version, plural, scope, message
    manifests.py    YAML/JSON manifests <-> proto objects, strict (unknown and mistyped fields refused)
    client.py       the typed gRPC client (failover over several apiservers); pipeline.py its pipelined
                    writes; streams.py its streaming verbs (logs, exec, attach, port-forward);
                    access.py WhoAmI and access reviews; retry.py a write retried on Conflict
    errors.py       API errors, as Kubernetes' Status reasons and codes
    informer.py, workqueue.py   informers over watch streams; the rate-limited work queue of keys
    backoff.py      doubling delays and retry pacing; timeutil.py API timestamps and the clock (real, fake)
    selectors.py    label and field selectors, and an object's own selector
    conditions.py   status conditions: set them (one transition rule) and read them (pod and node Ready)
    events.py       the event recorder (a repeat counted on its Event); leaderelection.py Lease-based election
    patch.py        JSON, merge and strategic-merge patches, client-side apply; quantity.py quantities
    imageref.py     image references as Docker parses them; catalogue.py the lab's image catalogue
    hostport.py     `host:port` addresses (Go's net.SplitHostPort)
    nodes.py        what a Node says of its kubelet; tables.py server-side printing's columns
    serving.py      the process life cycle (run, run_workers), health and metrics endpoints
    config.py       kubeconfig (and its HTTPS credentials: ssl_context) and component flags

Components import this package; it imports none of them.
"""
__version__ = "0.1.0"
