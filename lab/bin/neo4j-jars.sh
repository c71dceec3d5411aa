#!/usr/bin/env bash
# Fetch the jars of Neo4j Community + APOC core from Maven Central with the host's `mvn`.
#
#   neo4j-jars.sh DEST_DIR [CONTEXT_JARS_DIR | -]
#
# - DEST_DIR/lib      runtime classpath of org.neo4j:neo4j + org.neo4j.app:neo4j-server
# - DEST_DIR/plugins  apoc-core + apoc-common and those of their runtime dependencies that
#                     Neo4j's own classpath does not already hold
# - DEST_DIR/.stamp-<version> marks a complete fetch: when present, nothing is fetched again.
# - The result is then mirrored into CONTEXT_JARS_DIR (default: lab/images/neo4j/jars, the
#   git-ignored part of the image's build context) unless it is "-" or DEST_DIR itself.
#
# Since APOC 5.26.12 Maven Central no longer carries the fat `apoc-core:<v>:jar:core`; the plain
# apoc-core jar, apoc-common and their dependencies are the same content as separate jars.
# The jars are GPLv3 (Neo4j) and Apache-2.0 (APOC): they are never committed.
# Environment: NEO4J_VERSION (default below, exact Neo4j and APOC version), MVN (default mvn).
set -euo pipefail

NEO4J_VERSION=${NEO4J_VERSION:-5.26.19}
MVN=${MVN:-mvn}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf 'neo4j-jars: %s\n' "$*"; }
die() { printf 'neo4j-jars: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $# -ge 1 && $# -le 2 && -n $1 ]] || die "usage: $0 DEST_DIR [CONTEXT_JARS_DIR | -]"
DEST=$1
CONTEXT=${2:-$HERE/../images/neo4j/jars}
STAMP=.stamp-$NEO4J_VERSION

mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
if [[ $CONTEXT != - ]]; then
  mkdir -p "$CONTEXT"
  CONTEXT=$(cd "$CONTEXT" && pwd)
  [[ $CONTEXT == "$DEST" ]] && CONTEXT=-
fi

fetch() {
  command -v "$MVN" >/dev/null 2>&1 || die "'$MVN' not found: install Maven (Debian: apt-get install maven) and a JDK"
  local tmp log
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/neo4j-jars.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  log=$tmp/mvn.log

  # pom_for NAME DEP...: a throwaway pom whose dependencies are DEP (groupId:artifactId).
  pom_for() {
    local name=$1 ga
    shift
    mkdir -p "$tmp/$name"
    {
      printf '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
      printf '  <modelVersion>4.0.0</modelVersion>\n'
      printf '  <groupId>local.mem0ops</groupId><artifactId>%s</artifactId><version>0</version>\n' "$name"
      printf '  <packaging>pom</packaging>\n  <dependencies>\n'
      for ga in "$@"; do
        printf '    <dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version></dependency>\n' \
          "${ga%%:*}" "${ga#*:}" "$NEO4J_VERSION"
      done
      printf '  </dependencies>\n</project>\n'
    } >"$tmp/$name/pom.xml"
  }
  # copy_deps NAME: the runtime closure, in repository layout (group/artifact/version/file.jar).
  copy_deps() {
    if ! "$MVN" -q -B -f "$tmp/$1/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
        -Dstyle.color=never -DincludeScope=runtime -Dmdep.useRepositoryLayout=true \
        -DoutputDirectory="$tmp/$1/out" >>"$log" 2>&1; then
      tail -n 40 "$log" | sed 's/\x1b\[[0-9;]*m//g' >&2
      die "mvn could not resolve the $1 jars of Neo4j/APOC $NEO4J_VERSION from Maven Central (last 40 lines of its output above)"
    fi
  }

  pom_for neo4j org.neo4j:neo4j org.neo4j.app:neo4j-server
  pom_for apoc org.neo4j:neo4j org.neo4j.app:neo4j-server org.neo4j.procedure:apoc-core org.neo4j.procedure:apoc-common
  say "resolving Neo4j $NEO4J_VERSION and APOC $NEO4J_VERSION with mvn (quiet)"
  copy_deps neo4j
  copy_deps apoc

  rm -rf "${DEST:?}/lib" "${DEST:?}/plugins" "${DEST:?}"/.stamp-*
  mkdir -p "$DEST/lib" "$DEST/plugins"
  # lib: Neo4j's own closure; plugins: what APOC adds on top (compared by group/artifact, so a
  # version APOC would mediate differently never shadows Neo4j's own copy).
  local f ga
  declare -A in_lib=()
  while IFS= read -r f; do
    ga=$(dirname "$(dirname "$f")")
    in_lib[$ga]=1
    cp "$tmp/neo4j/out/$f" "$DEST/lib/"
  done < <(cd "$tmp/neo4j/out" && find . -name '*.jar' | sort)
  while IFS= read -r f; do
    ga=$(dirname "$(dirname "$f")")
    [[ -n ${in_lib[$ga]:-} ]] || cp "$tmp/apoc/out/$f" "$DEST/plugins/"
  done < <(cd "$tmp/apoc/out" && find . -name '*.jar' | sort)

  [[ -f $DEST/lib/neo4j-$NEO4J_VERSION.jar && -f $DEST/lib/neo4j-server-$NEO4J_VERSION.jar ]] ||
    die "Neo4j $NEO4J_VERSION jars missing from $DEST/lib after mvn"
  [[ -f $DEST/plugins/apoc-core-$NEO4J_VERSION.jar && -f $DEST/plugins/apoc-common-$NEO4J_VERSION.jar ]] ||
    die "APOC $NEO4J_VERSION jars missing from $DEST/plugins after mvn"
  printf 'neo4j %s\nlib %s jars\nplugins %s jars\n' "$NEO4J_VERSION" \
    "$(find "$DEST/lib" -name '*.jar' | wc -l)" "$(find "$DEST/plugins" -name '*.jar' | wc -l)" >"$DEST/$STAMP"
  rm -rf "$tmp"
  trap - EXIT
  say "$(find "$DEST/lib" -name '*.jar' | wc -l) jars in $DEST/lib, $(find "$DEST/plugins" -name '*.jar' | wc -l) in $DEST/plugins"
}

if [[ -f $DEST/$STAMP ]]; then
  say "Neo4j $NEO4J_VERSION jars already in $DEST"
else
  fetch
fi

if [[ $CONTEXT != - ]]; then
  if cmp -s "$DEST/$STAMP" "$CONTEXT/$STAMP" 2>/dev/null; then
    say "build context $CONTEXT already up to date"
  else
    rm -rf "${CONTEXT:?}/lib" "${CONTEXT:?}/plugins" "$CONTEXT"/.stamp-*
    # hard links when DEST and the context share a file system, copies otherwise
    cp -al "$DEST/lib" "$DEST/plugins" "$CONTEXT/" 2>/dev/null ||
      { rm -rf "${CONTEXT:?}/lib" "${CONTEXT:?}/plugins"; cp -a "$DEST/lib" "$DEST/plugins" "$CONTEXT/"; }
    cp "$DEST/$STAMP" "$CONTEXT/$STAMP"
    say "build context $CONTEXT updated"
  fi
fi
