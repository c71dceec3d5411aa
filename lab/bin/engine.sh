#!/usr/bin/env bash
# Make a Docker engine and the Compose v2 plugin available for the lab.
#
# - An engine that already answers (Docker Desktop, OrbStack, a running dockerd) is used as it is.
# - Otherwise, on Debian as root: install Debian's docker.io and start dockerd loopback-only
#   (no bridge, no iptables: lab containers use host networking and listen on 127.0.0.1).
# - Compose v2: when `docker compose` is missing, the static plugin from Debian trixie's
#   docker-compose package is unpacked into the CLI plugin directory.
# Idempotent; prints one line per step.
set -euo pipefail

STATE_DIR=${MEM0OPS_ENGINE_STATE:-/var/lib/mem0ops-lab/engine}
SOCK=/var/run/docker.sock
PLUGIN_DIR=/usr/libexec/docker/cli-plugins

say() { printf 'engine: %s\n' "$*"; }
die() { printf 'engine: ERROR: %s\n' "$*" >&2; exit 1; }

for d in "$HOME/.orbstack/bin" /usr/local/bin /opt/homebrew/bin; do
  [[ -d $d && :$PATH: != *:$d:* ]] && PATH="$PATH:$d"
done
export PATH

engine_up() { docker info >/dev/null 2>&1; }

APT_UPDATED=0
apt_ready() {
  [[ $APT_UPDATED == 1 ]] && return 0
  say "refreshing Debian package lists"
  apt-get update -qq
  APT_UPDATED=1
}

start_dockerd() {
  [[ $(uname -s) == Linux ]] || die "no Docker engine answers; start Docker Desktop or OrbStack and run again"
  [[ $EUID -eq 0 ]] || die "no Docker engine answers and starting one needs root; run as root or start dockerd"
  if ! command -v dockerd >/dev/null 2>&1; then
    apt_ready
    say "installing Debian's docker.io"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  fi
  mkdir -p "$STATE_DIR"
  say "starting dockerd (loopback only: --bridge=none --iptables=false)"
  setsid dockerd --host="unix://$SOCK" --bridge=none --iptables=false --ip6tables=false \
    --pidfile="$STATE_DIR/dockerd.pid" >>"$STATE_DIR/dockerd.log" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    engine_up && return 0
    sleep 1
  done
  tail -n 20 "$STATE_DIR/dockerd.log" >&2 || true
  die "dockerd did not answer within 60 s; its log is $STATE_DIR/dockerd.log"
}

install_compose_plugin() {
  [[ $(uname -s) == Linux && $EUID -eq 0 ]] \
    || die "'docker compose' (v2) is missing; install the Compose plugin for your engine"
  local work src uri
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  # Debian trixie's docker-compose is a static binary; fetch it from the mirror this machine already uses.
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n $uri ]] || uri=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [[ -n $uri ]] || die "cannot find this machine's Debian mirror in /etc/apt"
  src="$work/trixie.sources"
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" >"$src"
  mkdir -p "$work/lists/partial" "$work/archives/partial"
  local opts=(-o "Dir::Etc::SourceList=$src" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives" -o APT::Sandbox::User=root -qq)
  say "fetching the Compose v2 plugin (Debian trixie docker-compose)"
  apt-get "${opts[@]}" update
  (cd "$work" && apt-get "${opts[@]}" download docker-compose)
  dpkg-deb -x "$work"/docker-compose_*.deb "$work/x"
  install -D -m 0755 "$work/x/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGIN_DIR/docker-compose"
}

if engine_up; then
  say "engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
else
  start_dockerd
  say "engine started ($(docker version --format '{{.Server.Version}}'))"
fi

if ! docker compose version >/dev/null 2>&1; then
  install_compose_plugin
fi
say "compose $(docker compose version --short)"

# Host tools: debootstrap builds the lab's base image; shellcheck is one of ansible-test's sanity tests;
# cron runs the scheduled jobs; prometheus (with promtool) checks the alert rules and scrapes node_exporter
# (prometheus-node-exporter), whose textfile collector reads the mem0 metrics.
# Installed with daemon starts denied: nothing may start listening beyond loopback behind our back.
if [[ $(uname -s) == Linux && $EUID -eq 0 ]]; then
  missing=()
  for tool in debootstrap:debootstrap shellcheck:shellcheck cron:cron promtool:prometheus prometheus-node-exporter:prometheus-node-exporter sqlite3:sqlite3; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
  done
  if ((${#missing[@]})); then
    apt_ready
    say "installing ${missing[*]}"
    policy=/usr/sbin/policy-rc.d
    mkdir -p "$STATE_DIR"
    if [[ -e $policy ]]; then cp -p "$policy" "$STATE_DIR/policy-rc.d.saved"; fi
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f "$policy"
    if [[ -e $STATE_DIR/policy-rc.d.saved ]]; then mv "$STATE_DIR/policy-rc.d.saved" "$policy"; fi
  fi
fi
