"""kubelab's shared client library.

Everything the components have in common lives here: generated API types
(`kubelab.v1`), the kinds registry (`kinds`), manifests (YAML <-> proto),
the typed client (`client`, its pipelined writes in `pipeline`, its
streaming verbs in `streams`, WhoAmI and access reviews in `access`),
API errors (`errors`), informers, the work queue, back-off, a write
retried on Conflict (`retry`), selectors (and an object's selector),
status conditions, events, leader election,
the clock (real and fake), quantities, patches, image references, what a
Node says of its kubelet (`nodes`), server-side printing's columns
(`tables`), the process life cycle (`serving`), the lab's image catalogue
(`catalogue`) and config (kubeconfig, component flags).
Components import this package; it imports none of them.
"""
__version__ = "0.1.0"
