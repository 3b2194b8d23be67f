"""kubelab's scheduler (`kubelab-scheduler`): places pending pods on nodes.

The pipeline, one module per stage (README.md draws it):

    queue.py       which pending pod next (active / backoff / unschedulable)
    podinfo.py     what a pod asks for, computed once
    cache.py       nodes with per-node aggregates, assumed pods
    filters.py     feasibility: small predicates returning Kubernetes' reasons
    scores.py      ranking: small normalised scores
    algorithm.py   filter → score → pick, and the FitError message
    server.py      informers, the loop, binding, leader election
    recording.py   the events and pod conditions it writes for users
    metrics.py     its Prometheus metrics, named as kube-scheduler's
    main.py        the click CLI
"""
