#!/bin/sh
# curl, for the tutorials' `curl localhost:8080` inside this pod: the image is busybox, which has wget
# and no curl. A small subset over busybox wget: `curl [-s] [-i|-I] [-o FILE] URL`; anything else is
# refused by name rather than misread.
usage() { echo "curl: kubelab/hello's curl is busybox wget underneath; it takes -s, -i, -I, -o FILE and one URL" >&2; exit 2; }
include=""; head=""; out="-"; url=""
while [ $# -gt 0 ]; do
    case "$1" in
        -s|--silent|-L|--location) ;;
        -i|--include) include=1 ;;
        -I|--head) head=1 ;;
        -o|--output) shift; [ $# -gt 0 ] || usage; out="$1" ;;
        -*) echo "curl: option $1 is not supported here" >&2; usage ;;
        *) [ -z "$url" ] || usage; url="$1" ;;
    esac
    shift
done
[ -n "$url" ] || usage
case "$url" in *://*) ;; *) url="http://$url" ;; esac
if [ -n "$head" ] || [ -n "$include" ]; then
    # wget -S prints the response head on stderr, two spaces in: as curl -i puts it before the body.
    wget -S -q -O /dev/null "$url" 2>&1 | sed 's/^  //'
    status=$?
    [ -n "$head" ] && exit $status
fi
exec wget -q -O "$out" "$url"
