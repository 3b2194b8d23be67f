#!/bin/sh
# kubelab web: busybox httpd serving /usr/share/nginx/html on port 80, with
# one access-log line per request on stdout, in the spirit of nginx's log.
#
# httpd -vv writes two lines per request to stderr:
#     172.18.0.3:40412: url:/index.html
#     172.18.0.3:40412: response:200
# awk folds each pair into one line:
#     172.18.0.3 - - [23/Nov/2025:19:58:01 +0000] "/index.html" 200
# (busybox httpd does not report the method, so the line carries none.)
# Each line also goes to /var/log/nginx/access.log, as nginx writes it.
#
# PID 1 ignores signals it has no handler for: the trap makes `docker stop`
# (SIGTERM) end the container at once.
trap 'exit 0' TERM INT
PORT=${PORT:-80}
DOCROOT=${DOCROOT:-/usr/share/nginx/html}
LOGFILE=/var/log/nginx/access.log
touch "$LOGFILE" 2>/dev/null || LOGFILE=/dev/null   # a read-only log dir must not stop the server
httpd -f -vv -p "$PORT" -h "$DOCROOT" 2>&1 | awk -v logfile="$LOGFILE" '
{
    i = index($0, ": ")
    if (i == 0) { print; fflush(); next }
    peer = substr($0, 1, i - 1)
    what = substr($0, i + 2)
    if (what ~ /^url:/) { url[peer] = substr(what, 5); next }
    if (what ~ /^response:/) {
        ip = peer
        sub(/:[0-9]+$/, "", ip)
        sub(/^\[::ffff:/, "", ip)
        gsub(/[][]/, "", ip)
        u = (peer in url) ? url[peer] : "-"
        delete url[peer]
        line = sprintf("%s - - [%s] \"%s\" %s", ip, strftime("%d/%b/%Y:%H:%M:%S +0000"), u, substr(what, 10))
        print line
        # Also where nginx keeps it, so a log-reading sidecar on an emptyDir (seed 001) sees it.
        print line >> logfile
        fflush()
        next
    }
    print
    fflush()
}' &
wait $!
