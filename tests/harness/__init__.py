"""Test harnesses: what several tests (and bench/, scripts/lab_leak.py) share, never imported by the components.

    fake_client.py        FakeClient, a kubelab.client.Client over a dict of objects; FakeRecorder, an
                          EventRecorder that keeps the Events (unit tests without an apiserver)
    store.py              the apiserver's real Store over MemoryStorage, filled with a few objects, and an
                          ApiService over it (apiserver tests without etcd)
    controller_manager.py Harness: one controller's reconcile over FakeClient with informers filled by hand;
                          what the controller-manager integration tests read of a running cluster
    scheduler.py          make_node/make_pod and the scheduling pipeline without a cluster
    docker_kubelet.py     FakeRuntime, the Docker kubelet's runtime in memory
    kubelet.py            EchoKubelet, a stand-in kubelet streaming server (gRPC) whose container echoes
    cluster.py            a local cluster from the launcher with short timings, extra component processes,
                          a namespace per test
    wait.py               polling until something is so (async and blocking)
    manifests.py          the Pods, Deployments and ReplicaSets the tests create
    kubeconfig.py         a test's own kubeconfig, never the user's
    browser.py            headless chromium for the dashboard's tests
"""
