"""The Kubernetes HTTP API, served by the apiserver process beside its gRPC API.

It calls what the gRPC servicer calls (apiserver.server.ApiService's functions, the Store and the
WatchCache): one store, one watch cache, one registry (defaulting, validation), one token. Nothing here
re-implements a rule; this package only translates HTTP ↔ those calls, laid out as kube-apiserver's
`endpoints` package is:

    app.py          the server: TLS, the filter chain (panic recovery → body size limit → authentication →
                    handler), routing, and the registration point for the streaming subresources and OpenAPI
    request.py      what a URL names (RequestInfo) and decoding a request body (JSON/YAML, fieldValidation)
    negotiate.py    content negotiation: which representation an Accept header asks for
    status.py       every error as a metav1.Status, written by one function
    serialize.py    objects as Kubernetes writes them (apiVersion/kind, the zero values it always writes)
    discovery.py    /api, /apis, aggregated discovery v2, /version
    get.py list.py create.py update.py patch.py delete.py watch.py   one module per verb
    subresources.py status, scale, binding, eviction;  authz.py  SelfSubjectAccessReview;  authn.py  SelfSubjectReview
    versions.py     the versions served beside a kind's stored one (policy/v1beta1 PodDisruptionBudget) and the
                    conversions between them
    table.py        server-side printing (meta.k8s.io/v1 Table) from kubelab.tables
    protobuf.py     request bodies in Kubernetes' protobuf encoding (kubectl's typed clients send them)
    openapi.py, openapi_pb.py   /openapi/v2 and /openapi/v3;  streaming.py, spdy.py   log, exec, attach,
                    portforward, pod and service proxy (installed by app.py's install_openapi/install_streaming)

Why aiohttp: the apiserver is asyncio end to end (grpc.aio, aetcd, the watch cache), and aiohttp serves
HTTP/1.1 in that same event loop, with chunked streaming responses (watch, logs) and WebSockets (exec,
attach, port-forward, which kubectl ≥ 1.31 tries first), so the HTTP API shares the process's objects
without threads or a second loop. Its TLS is the standard library's ssl module.
"""
