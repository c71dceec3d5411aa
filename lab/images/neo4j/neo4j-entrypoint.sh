#!/usr/bin/env bash
# Entry point of mem0ops-lab/neo4j: Neo4j Community + APOC core from Maven Central jars.
#
# Environment:
#   NEO4J_AUTH            neo4j/<password> (auth on; password >= 8 characters) or none (auth off). Required.
#   NEO4J_HTTP_PORT       HTTP connector port (7474)
#   NEO4J_BOLT_PORT       Bolt connector port (7687)
#   NEO4J_LISTEN_ADDRESS  IPv4 address both connectors listen on (127.0.0.1)
#   NEO4J_HEAP_SIZE       JVM heap, initial = max (512m)
#   NEO4J_PAGECACHE_SIZE  server.memory.pagecache.size (64m)
# Paths: /data (databases, auth), /logs, /import (LOAD CSV and apoc file import/export).
#
# Started as root, it makes /data, /logs and /import belong to neo4j (uid/gid 7474), then runs
# itself again as neo4j. conf/neo4j.conf and conf/apoc.conf are rewritten on every start.
# When auth is on and /data holds no system database yet (first start, or after /data was
# wiped), the initial password is set with `neo4j-admin dbms set-initial-password` first.
# Finally Java is exec'd as PID 1, so SIGTERM (docker stop) makes Neo4j shut down cleanly.
set -euo pipefail

NEO4J_HOME=${NEO4J_HOME:-/opt/neo4j}
DATA=/data LOGS=/logs IMPORT=/import
NEO4J_UID=7474

log() { printf '%s neo4j-entrypoint: %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S.000+0000')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- as root: own the mounted directories, then drop privileges ---------------------------------
if [[ $(id -u) == 0 ]]; then
  mkdir -p "$DATA" "$LOGS" "$IMPORT"
  # only what is not neo4j's already (a bind mount may be root-owned, or new files may have
  # been put into /import by root)
  find "$DATA" "$LOGS" "$IMPORT" \( ! -user "$NEO4J_UID" -o ! -group "$NEO4J_UID" \) \
    -exec chown -h "$NEO4J_UID:$NEO4J_UID" {} +
  export HOME=$NEO4J_HOME NEO4J_HOME
  # the environment (NEO4J_AUTH included) is inherited, never passed as arguments
  exec setpriv --reuid="$NEO4J_UID" --regid="$NEO4J_UID" --clear-groups -- "$0" "$@"
fi

# --- settings -----------------------------------------------------------------------------------
[[ -v NEO4J_AUTH && -n $NEO4J_AUTH ]] || die "NEO4J_AUTH is not set: use neo4j/<password> or none"
HTTP_PORT=${NEO4J_HTTP_PORT:-7474}
BOLT_PORT=${NEO4J_BOLT_PORT:-7687}
ADDR=${NEO4J_LISTEN_ADDRESS:-127.0.0.1}
HEAP=${NEO4J_HEAP_SIZE:-512m}
PAGECACHE=${NEO4J_PAGECACHE_SIZE:-64m}

for p in "$HTTP_PORT" "$BOLT_PORT"; do
  if ! [[ $p =~ ^[0-9]+$ ]] || ((10#$p < 1 || 10#$p > 65535)); then die "invalid port '$p'"; fi
done
[[ $HTTP_PORT != "$BOLT_PORT" ]] || die "NEO4J_HTTP_PORT and NEO4J_BOLT_PORT are both $HTTP_PORT"
[[ $ADDR =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "NEO4J_LISTEN_ADDRESS '$ADDR' is not an IPv4 address"
[[ $HEAP =~ ^[0-9]+[kmgKMG]$ ]] || die "invalid NEO4J_HEAP_SIZE '$HEAP' (e.g. 512m)"
[[ $PAGECACHE =~ ^[0-9]+[kmgKMG]$ ]] || die "invalid NEO4J_PAGECACHE_SIZE '$PAGECACHE' (e.g. 64m)"
ADVERTISED=$ADDR
[[ $ADDR == 0.0.0.0 ]] && ADVERTISED=localhost

if [[ $NEO4J_AUTH == none ]]; then
  AUTH_ENABLED=false
  PASSWORD=
else
  [[ $NEO4J_AUTH == neo4j/* ]] || die "NEO4J_AUTH must be neo4j/<password> or none (only the user neo4j is supported)"
  AUTH_ENABLED=true
  PASSWORD=${NEO4J_AUTH#neo4j/}
  ((${#PASSWORD} >= 8)) || die "the password in NEO4J_AUTH must have at least 8 characters"
  [[ $PASSWORD != *$'\n'* && $PASSWORD != *$'\r'* ]] || die "the password in NEO4J_AUTH must be one line"
fi
unset NEO4J_AUTH # Neo4j itself never sees it

for d in "$DATA" "$LOGS" "$IMPORT"; do
  [[ -d $d && -w $d ]] || die "$d is not a directory writable by uid $(id -u)"
done

# --- configuration ------------------------------------------------------------------------------
CONF=$NEO4J_HOME/conf
if [[ ! -w $CONF ]]; then # started with --user <other uid>: keep the config in a private dir
  CONF=$(mktemp -d /tmp/neo4j-conf.XXXXXX)
fi
export NEO4J_HOME NEO4J_CONF=$CONF

cat >"$CONF/neo4j.conf" <<EOF
# Written by neo4j-entrypoint on every start; edits are lost.
server.default_listen_address=$ADDR
server.default_advertised_address=$ADVERTISED
server.bolt.enabled=true
server.bolt.listen_address=$ADDR:$BOLT_PORT
server.bolt.advertised_address=$ADVERTISED:$BOLT_PORT
server.bolt.tls_level=DISABLED
server.http.enabled=true
server.http.listen_address=$ADDR:$HTTP_PORT
server.http.advertised_address=$ADVERTISED:$HTTP_PORT
server.https.enabled=false

server.directories.data=$DATA
server.directories.logs=$LOGS
server.directories.import=$IMPORT
server.directories.plugins=$NEO4J_HOME/plugins
server.directories.lib=$NEO4J_HOME/lib
server.directories.run=/tmp

server.memory.heap.initial_size=$HEAP
server.memory.heap.max_size=$HEAP
server.memory.pagecache.size=$PAGECACHE

dbms.security.auth_enabled=$AUTH_ENABLED
dbms.security.procedures.unrestricted=apoc.*
dbms.usage_report.enabled=false
# Bolt's netty event loops otherwise wait a 5 s quiet period each (two groups) after the
# databases have already stopped, which overruns docker stop's 10 s grace period.
internal.dbms.bolt.netty_server_shutdown_quiet_period=0
internal.dbms.bolt.netty_server_shutdown_timeout=3s
EOF

# apoc.* settings live here: neo4j.conf's strict validation rejects them.
cat >"$CONF/apoc.conf" <<EOF
# Written by neo4j-entrypoint on every start; edits are lost.
apoc.export.file.enabled=true
apoc.import.file.enabled=true
EOF

# What the neo4j launcher (bootloader) would put on the command line; heap from the settings. Unlike the
# launcher: the serial collector and the C1 compiler only (-XX:TieredStopAtLevel=1). The lab's graph is small and a
# 2-core test machine starts Neo4j many times: measured there, CPU to the first HTTP answer 10 s instead of 15-18 s.
JAVA_OPTS=(
  "-Xms$HEAP" "-Xmx$HEAP"
  -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-OmitStackTraceInFastThrow -XX:+UnlockExperimentalVMOptions
  -XX:+TrustFinalNonStaticFields -XX:+DisableExplicitGC -XX:+ExitOnOutOfMemoryError
  -Djdk.nio.maxCachedBufferSize=1024 -Dio.netty.tryReflectionSetAccessible=true
  -Djdk.tls.ephemeralDHKeySize=2048 -Djdk.tls.rejectClientInitiatedRenegotiation=true
  -XX:FlightRecorderOptions=stackdepth=256 -XX:+UnlockDiagnosticVMOptions -XX:+DebugNonSafepoints
  --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --enable-native-access=ALL-UNNAMED
  -Dlog4j2.disable.jmx=true -Dlog4j.layout.jsonTemplate.maxStringLength=32768
  -Dfile.encoding=UTF-8 -Djava.net.preferIPv4Stack=true
)
CLASSPATH_ARG="$NEO4J_HOME/plugins/*:$CONF/*:$NEO4J_HOME/lib/*"

# --- initial password (only before the system database exists) ---------------------------------
if [[ $AUTH_ENABLED == true ]]; then
  if [[ -d $DATA/databases/system ]]; then
    log "system database present in $DATA: keeping its users (NEO4J_AUTH only applies to an empty $DATA)"
  else
    log "empty $DATA: setting the initial password of user neo4j"
    # The password must not appear in any argv (ps, /proc/<pid>/cmdline). The java launcher
    # reads the whole command line from an @argfile, here /dev/stdin fed by a here-document
    # (a pipe or an already-unlinked temp file), so argv is just `java @/dev/stdin`. Argfile syntax: inside
    # double quotes backslash escapes, hence \ -> \\ and " -> \". `--` keeps a password that
    # starts with '-' from being read as an option. (A password starting with '@' that names an
    # existing file would be expanded by neo4j-admin's picocli: avoid such passwords.)
    esc=${PASSWORD//\\/\\\\}
    esc=${esc//\"/\\\"}
    out=$(java @/dev/stdin 2>&1 <<EOF
-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
-cp "$NEO4J_HOME/lib/*" org.neo4j.cli.AdminTool dbms set-initial-password -- "$esc"
EOF
    ) || { printf '%s\n' "$out" >&2; die "neo4j-admin dbms set-initial-password failed"; }
    unset esc out
  fi
fi
unset PASSWORD

log "starting Neo4j (auth $AUTH_ENABLED, http $ADDR:$HTTP_PORT, bolt $ADDR:$BOLT_PORT, heap $HEAP, page cache $PAGECACHE)"
cd "$NEO4J_HOME"
exec java "${JAVA_OPTS[@]}" -cp "$CLASSPATH_ARG" org.neo4j.server.CommunityEntryPoint \
  --home-dir="$NEO4J_HOME" --config-dir="$CONF" --console-mode
