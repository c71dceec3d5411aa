#!/usr/bin/env bash
# Build mem0ops-lab/mem0:2.2.1. Build context = lab/ (the apps live in lab/apps/), trimmed to
# lab/apps + lab/images/mem0.
#   lab/images/mem0/build.sh [extra docker build args...]
# Environment: IMAGE (default mem0ops-lab/mem0:2.2.1), CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=$(cd "$HERE/../.." && pwd)
IMAGE=${IMAGE:-mem0ops-lab/mem0:2.2.1}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

[[ -r $CA_BUNDLE ]] || { echo "build.sh: CA bundle $CA_BUNDLE not readable (pip needs it)" >&2; exit 1; }
# pip inside the build verifies PyPI with this machine's CA bundle (git-ignored copy).
cmp -s "$CA_BUNDLE" "$HERE/ca-certificates.crt" || install -m 0644 "$CA_BUNDLE" "$HERE/ca-certificates.crt"
# Send only what the image needs: the legacy builder (Docker 20.10 without buildx) ignores
# Dockerfile.dockerignore, and lab/ also holds other images' large contexts (Neo4j jars).
# Same layout as the plain `docker build ... -f lab/images/mem0/Dockerfile lab`, streamed as a tar.
tar -C "$LAB" --exclude=__pycache__ --exclude='*.pyc' -cf - apps images/mem0 |
  docker build --network host -t "$IMAGE" -f images/mem0/Dockerfile "$@" -
