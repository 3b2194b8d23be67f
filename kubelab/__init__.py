"""kubelab's shared client library.

Everything the components have in common lives here: generated API types
(`kubelab.v1`), the kinds registry, manifests (YAML <-> proto), the typed
client, informers, the work queue, selectors (and an object's selector),
status conditions, the clock (real and fake), quantities and config.
Components import this package; it imports none of them.
"""
__version__ = "0.1.0"
