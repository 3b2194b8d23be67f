#!/bin/sh
# kubelab hello: one HTTP exchange on stdin/stdout (nc -e runs this once per
# connection). Read the request head, log the request line to stderr (the
# container's log), answer with the greeting, and close.
CR=$(printf '\r')
IFS= read -r -t 10 request || exit 0
request=${request%"$CR"}
while IFS= read -r -t 10 line; do
    line=${line%"$CR"}
    [ -z "$line" ] && break
done
# An image built FROM this one may put its own greeting in /etc/hello/greeting (the bootcamp stand-in).
greeting="Hello kubelab!"
[ -r /etc/hello/greeting ] && IFS= read -r greeting < /etc/hello/greeting
body="$greeting | Running on: $(hostname) | v=@VERSION@"
echo "hello v=@VERSION@: $request" >&2
case "$request" in
    HEAD\ *) printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' "$(( ${#body} + 1 ))" ;;
    *)       printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n' "$(( ${#body} + 1 ))" "$body" ;;
esac
