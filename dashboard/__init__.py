"""`kubelab dashboard`: a live web page of the cluster, served by a local process (seed 001's `minikube dashboard`).

Where it sits: beside the CLI, a client of the Kubernetes HTTP API (apiserver/http) like kubectl. It imports
only `kubelab/`. It is a program of its own, `kubectl-dashboard`, which the CLI runs as a plugin (kubectl's
mechanism, kubectl/plugins.py): `kubelab dashboard` execs it. The browser never holds a token: this process
reads the user's kubeconfig (context, server, CA, bearer token), talks to the API for the page and serves the
page on 127.0.0.1, as `minikube dashboard` does through `kubectl proxy`.

    main.py      `kubectl-dashboard`: flags → Config → kubelab.serving.run(Server(config)), the CLI's error lines
    kubeapi.py   the kubeconfig's credentials and an HTTPS client of the API (requests, watch streams, Status
                 errors)
    relay.py     one list-then-watch loop per kind, retried with back-off; a Hub keeps the current objects and
                 fans each change out to the pages as Server-Sent Events (the API's watch streams, relayed)
    actions.py   the page's actions as API calls: scale, delete a pod, cordon/uncordon, rollout undo (the
                 JSON patch kubectl sends, computed from the previous ReplicaSet)
    server.py    the aiohttp app on 127.0.0.1: the page, /api/stream (SSE), /api/object (YAML), /api/action;
                 `Server`, the process's Service (start serves and opens the browser, stop closes)
    static/      the page: plain HTML, CSS and JavaScript modules

Why plain files and no framework: neither a CDN nor npm is reachable where kubelab runs (labs are often
offline), and no PyPI package ships a UI library we would want to pin; ES modules, EventSource and the DOM are
enough for a page this size. Data from the cluster reaches the DOM only as textContent, never as HTML, so a
`<script>` in a name, label or event message shows as text; the page applies the changes of a frame at once
(requestAnimationFrame) and updates only the cards that changed, so 1,000 pods stay responsive.
"""
