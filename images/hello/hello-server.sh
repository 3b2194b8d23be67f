#!/bin/sh
# kubelab hello: answer every HTTP request on port 8080 (or $PORT) with
#     Hello kubelab! | Running on: <hostname> | v=<version>
# busybox nc -ll -e forks one handler per connection and keeps listening.
# PID 1 ignores signals it has no handler for: the trap makes `docker stop`
# (SIGTERM) end the container at once.
trap 'exit 0' TERM INT
echo "hello v=@VERSION@ listening on port ${PORT:-8080}" >&2
nc -ll -p "${PORT:-8080}" -e /usr/local/bin/hello-handler &
wait $!
