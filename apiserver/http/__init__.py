"""The apiserver's Kubernetes HTTP API (see the modules for what each owns)."""
