#!/usr/bin/env bash
# Smoke test of mem0ops-lab/postgres:17 (not part of the image): first start on an empty,
# root-owned bind mount, TCP scram login (right and wrong password), pgvector HNSW, pg_dump over
# docker exec, loopback-only listening, no password in `ps`, clean fast stop, restart on existing data.
# Usage: smoke-test.sh [port]   (default 15433). Needs docker and a host psql client.
set -Eeuo pipefail
PORT="${1:-15433}"
IMAGE="${IMAGE:-mem0ops-lab/postgres:17}"
NAME="pgsmoke-$$"
DIR="$(mktemp -d /tmp/pgsmoke.XXXXXX)"
PW="Smoke$RANDOM$RANDOM"
ENVF="$(mktemp /tmp/pgsmoke-env.XXXXXX)"   # the password goes through a 0600 file, not argv
cleanup() { docker rm -f "$NAME" >/dev/null 2>&1 || :; rm -rf "$DIR" "$DIR.dump" "$ENVF"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

wait_healthy() {
	local t0=$SECONDS s
	while :; do
		s="$(docker inspect -f '{{.State.Health.Status}} {{.State.Running}}' "$NAME")"
		case "$s" in healthy*) break ;; *false) docker logs "$NAME" >&2; fail "container stopped" ;; esac
		[ $((SECONDS - t0)) -lt 90 ] || fail "not healthy after 90 s"
		sleep 0.2
	done
}

q() { PGPASSWORD="$PW" psql -X -h 127.0.0.1 -p "$PORT" -U smoke -d smokedb -v ON_ERROR_STOP=1 -Atq "$@"; }

printf 'POSTGRES_PASSWORD=%s\n' "$PW" > "$ENVF"
# host networking: the host's psql comes from 127.0.0.1, which the image trusts by default (as the official
# image does); scram-sha-256 there makes the host prove its password, as a published port's clients do
docker run -d --name "$NAME" --network host -e POSTGRES_USER=smoke -e POSTGRES_DB=smokedb \
	-e POSTGRES_LOOPBACK_AUTH=scram-sha-256 -e PGPORT="$PORT" --env-file "$ENVF" -v "$DIR:/var/lib/postgresql/data" "$IMAGE" >/dev/null
wait_healthy; ok "healthy after first start"

[ "$(q -c 'select current_user')" = smoke ] && ok "scram login over TCP"
PGPASSWORD=wrong psql -X -h 127.0.0.1 -p "$PORT" -U smoke -d smokedb -c 'select 1' >/dev/null 2>&1 \
	&& fail "wrong password accepted"; ok "wrong password refused"

q <<'SQL'
CREATE EXTENSION vector;
CREATE TABLE memories (id uuid PRIMARY KEY, vector vector(768), payload jsonb);
INSERT INTO memories SELECT gen_random_uuid(),
  (SELECT array_agg(random())::real[]::vector FROM generate_series(1, 768) WHERE g > 0), '{}'
  FROM generate_series(1, 200) g;
CREATE INDEX memories_hnsw_idx ON memories USING hnsw (vector vector_cosine_ops);
SQL
ok "vector(768) + HNSW (vector_cosine_ops)"

docker exec "$NAME" pg_dump -U smoke -d smokedb -Fc > "$DIR.dump" || fail "pg_dump via docker exec"
docker exec -i "$NAME" pg_restore -l < "$DIR.dump" | grep -q 'INDEX public memories_hnsw_idx' \
	|| fail "dump lacks the index"; rm -f "$DIR.dump"; ok "docker exec pg_dump -Fc"
[ "$(docker exec -u postgres "$NAME" psql -X -U smoke -d smokedb -Atc 'select count(*) from memories')" = 200 ] \
	&& ok "docker exec -u postgres psql (socket trust)"

addrs="$(ss -Hltn "sport = :$PORT" | awk '{print $4}' | sort -u)"
[ "$addrs" = "127.0.0.1:$PORT" ] || fail "listening on: $addrs"; ok "listens on 127.0.0.1:$PORT only"
docker exec "$NAME" ps -eo args | grep -qF "$PW" && fail "password visible in ps"; ok "no password in ps"

t0=$(date +%s%N); docker stop "$NAME" >/dev/null; ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(docker inspect -f '{{.State.ExitCode}}' "$NAME")" = 0 ] || fail "unclean exit"
[ "$ms" -lt 5000 ] || fail "stop took ${ms} ms"; ok "clean stop in ${ms} ms"

docker start "$NAME" >/dev/null; wait_healthy
[ "$(q -c 'select count(*) from memories')" = 200 ] && ok "restart on existing data"
echo "PASS"
