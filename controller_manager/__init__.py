"""kubelab's controller manager: the controllers that make declared state real.

Where this sits: a component (`kubelab-controller-manager`) above the shared
client library (`kubelab`). It never talks to etcd or to other components;
it reads through shared informers and writes through the API.

Pipeline (one process, one asyncio loop)::

    main (click flags) -> Config -> kubelab.serving.run(ControllerManager): start, run, stop
        -> leader election (Lease kube-system/kube-controller-manager)
        -> shared informers (one list+watch per kind, indexed caches)
        -> each controller: handlers turn objects into `namespace/name` keys
           -> its WorkQueue -> workers -> reconcile(key) reads the caches,
              writes what is missing, recomputes status

Controllers, one module each, registered by name in `controllers.py` so
`--controllers=*,-name` can switch any off:

    replicaset        pods for a ReplicaSet (expectations, adoption, status)
    deployment/       ReplicaSets for a Deployment (rolling, recreate, progress)
    endpoint          Endpoints for Services with selectors
    endpointslice     EndpointSlices for Services with selectors (endpointslice_plan: the pure part)
    endpointslicemirroring  EndpointSlices mirroring a selector-less Service's Endpoints
    nodelifecycle     silent nodes -> Unknown -> their pods NotReady -> evicted
    garbagecollector  ownerReferences: background, foreground, orphan
    namespace         empty a Terminating namespace, then finalize it
    disruption        PodDisruptionBudget status
    serviceaccount    a `default` ServiceAccount in every namespace
    servicelb         LoadBalancer Services get the nodes' addresses (k3s' ServiceLB)

Shared building blocks: `base` (the controller skeleton), `informers`
(the shared informer factory), `expectations`, `podutil` (readiness,
availability, ranking for deletion), `refmanager` (adopt/release); from
`kubelab`: `timeutil` (the clock), `conditions`, `selectors.selector_of`.
"""
