#!/bin/sh
# kubelab's fluentd stand-in: follow $FLUENTD_FOLLOW (files may appear later: tail -F retries) and print
# every line as `<time> tail.<file>: {"message":"<line>"}`. PID 1 traps SIGTERM so `docker stop` ends at once.
trap 'exit 0' TERM INT
echo "$(date -u '+%Y-%m-%d %H:%M:%S +0000') [info]: kubelab fluentd stand-in: following ${FLUENTD_FOLLOW}"
# shellcheck disable=SC2086
tail -n 0 -F $FLUENTD_FOLLOW 2>/dev/null | while IFS= read -r line; do
    case "$line" in
        "==> "*" <==") file=${line#==> }; file=${file% <==}; tag="tail.${file##*/}" ;;
        "") ;;
        *) line=$(printf '%s' "$line" | sed 's/\\/\\\\/g; s/"/\\"/g')
           echo "$(date -u '+%Y-%m-%d %H:%M:%S +0000') ${tag:-tail}: {\"message\":\"$line\"}" ;;
    esac
done &
wait $!
