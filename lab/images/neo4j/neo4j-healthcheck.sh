#!/usr/bin/env bash
# HEALTHCHECK of mem0ops-lab/neo4j: HTTP GET / on the HTTP connector answers 200 (bash /dev/tcp,
# no curl in the image).
set -u
addr=${NEO4J_LISTEN_ADDRESS:-127.0.0.1}
[[ $addr == 0.0.0.0 ]] && addr=127.0.0.1
exec 3<>"/dev/tcp/$addr/${NEO4J_HTTP_PORT:-7474}" || exit 1
printf 'GET / HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$addr" >&3
IFS=' ' read -r -t 5 _ status _ <&3 || exit 1
[[ $status == 200 ]]
