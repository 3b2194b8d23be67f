"""Benchmarks: each `python -m bench.NAME` measures one thing against a local cluster (lab/local.py) or the
compose lab, and prints every figure it compares from one run.

    bench_api, bench_http   apiserver create throughput/latency and watch delivery (gRPC, then HTTP), beside
                            raw etcd
    bench_audit, bench_rbac the audit log's and RBAC's cost, A/B in one run (abtest.py)
    bench_scheduler         pods/s from created to bound on hollow nodes
    bench_rollout           a 100-replica Deployment rolled to a new image
    bench_scale             a ReplicaSet of 10,000 pods scaled to 0
    bench_trace             `kubelab trace` latency
    bench_proxy             requests/s and latency through the node proxy, beside straight to the backend
    bench_pods, bench_pull  pod start on the compose lab, beside `docker run` / `docker pull`
    soak                    writes under faults on the compose lab, then a consistency check
    noop_apiserver          a no-op API server on the same transport: the ceiling for the apiserver
    common.py               what they share: percentiles, drivers, raw etcd writes, /proc readings
"""
