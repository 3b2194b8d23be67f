"""kubectl's template output languages: JSONPath, custom-columns and Go templates.

Where this sits: inside the CLI (`kubectl`), under `kubectl.printers`
(``-o jsonpath=``, ``-o custom-columns=``, ``-o go-template=``,
``--sort-by``) and `kubectl.wait` (``--for=jsonpath=``); no other component
uses them.  Everything works on plain JSON-like values, the object as
Kubernetes serialises it (camelCase keys).  Standard library only.

  jsonpath.py          k8s.io/client-go/util/jsonpath, with kubectl's relaxed paths
  custom_columns.py    kubectl's custom-columns printer (paths by jsonpath.py)
  gotemplate_parse.py  Go text/template's parser
  gotemplate.py        Go text/template's execution and functions
  gofmt.py             Go's fmt/strconv/json value printing, shared by the three
  terminal.py          printers.EscapeTerminal: ESC and CR made harmless in human output
"""
