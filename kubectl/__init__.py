"""kubectl for kubelab: the `kubelab` command line.

Where this sits: an entry point on top of the shared client library
(`kubelab.client`, `kubelab.kinds`, `kubelab.manifests`, `kubelab.config`);
no other component imports it.

Layout, one module per verb family (loaded lazily by `main.LazyGroup`, so
`kubelab version --client` does not import every printer):

  main.py        the click group, global flags, error reporting
  context.py     Settings (flags -> connection), the async runner, API error lines
  resources.py   `pod,svc`, `kind/name`, `kind name1 name2` argument parsing
  tabwriter.py   Go's text/tabwriter, so columns line up exactly as kubectl's
  printers.py    table columns per kind, -o yaml|json|name|jsonpath|custom-columns|go-template
  output/        the template languages (JSONPath, custom-columns, Go templates) and terminal escaping
  get.py  describe.py  apply.py (apply, create)  delete.py  config_cmd.py
  misc.py        version, api-resources, label, annotate, patch, cluster-info
  workloads.py   scale, set image, run, expose
  rollout.py     rollout status|history|undo|pause|resume|restart
  nodes.py       cordon, uncordon, drain
  wait.py        wait --for=condition=...|delete
  auth.py        auth can-i|whoami; create_rbac.py: create role|clusterrole|...|serviceaccount|token
  image.py       image load|ls (the compose lab's registry and its mirror)
  trace.py       trace TYPE/NAME (the apiserver's timeline of what an object caused)
  plugins.py     kubectl's plugin mechanism: `kubelab NAME` runs kubectl-NAME (the dashboard is one), plugin list
  timefmt.py     ages and timestamps as kubectl prints them
  cluster.py     cluster up/down (lab.local)
  completion.py  completion bash|zsh|fish
  logs.py  exec_.py  attach.py  portforward.py  proxy.py
                 the streaming verbs, through kubelab.streams (no gRPC here)
  apiproxy.py    `proxy`'s pass-through to the Kubernetes HTTP API
  podref.py      which pod `pod/x`, `deployment/x`, `service/x` means (for those verbs)
"""
