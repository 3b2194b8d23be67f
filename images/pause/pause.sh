#!/bin/sh
# kubelab pause: the pod's infra container. It holds the pod's network
# namespace and does nothing else: sleep forever, exit 0 at once on TERM/INT.
# (As PID 1 a process with no handler ignores SIGTERM, hence the trap; the
# sleep runs in the background so that the trap fires without waiting for it.)
trap 'exit 0' TERM INT
while :; do
    sleep 3600 &
    wait $!
done
