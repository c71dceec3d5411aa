#!/usr/bin/env bash
# Entry point of mem0ops-lab/postgres:17, modelled on the official postgres image's
# docker-entrypoint.sh.
#
# Environment:
#   POSTGRES_USER            superuser created by initdb (default: postgres)
#   POSTGRES_PASSWORD        its password; or POSTGRES_PASSWORD_FILE (a file holding it)
#   POSTGRES_DB              database created on first start (default: $POSTGRES_USER)
#   PGDATA                   cluster directory (default: /var/lib/postgresql/data)
#   PGPORT                   TCP port and socket name (default: 5432); clients inside the
#                            container (docker exec psql / pg_dump) read the same variable
#   POSTGRES_LISTEN_ADDRESS  listen_addresses (default: 127.0.0.1; the lab uses host networking)
#   POSTGRES_HOST_AUTH_METHOD  pg_hba method for TCP from other hosts (default: scram-sha-256)
#   POSTGRES_LOOPBACK_AUTH   pg_hba method for TCP from 127.0.0.1 and ::1 (default: trust, as the
#                            official postgres and pgvector/pgvector images leave initdb's default;
#                            there only clients inside the container come from loopback, a published
#                            port's clients come from the engine's gateway). With host networking the
#                            host's clients come from loopback too: the lab inventory sets
#                            scram-sha-256 so that the lab asks the host for a password as the Mac does.
#   POSTGRES_INITDB_ARGS     extra initdb arguments (shell words)
#
# On an empty PGDATA: initdb (local socket trust, loopback TCP $POSTGRES_LOOPBACK_AUTH, other TCP
# $POSTGRES_HOST_AUTH_METHOD), create
# POSTGRES_DB, run /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz against a socket-only temporary
# server, stop it. Then (and on a non-empty PGDATA directly) exec postgres in the foreground, so the
# stop signal reaches the postmaster. `docker run IMAGE -c name=value ...` appends settings.
# The password is never put on a command line: initdb reads it from a process-substitution pipe.
set -Eeo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# file_env VAR [DEFAULT]: VAR from $VAR or from the file named by $VAR_FILE (not both).
file_env() {
	local var="$1" file_var="${1}_FILE" def="${2:-}" val
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		die "both $var and $file_var are set (they are exclusive)"
	fi
	val="$def"
	if [ -n "${!var:-}" ]; then
		val="${!var}"
	elif [ -n "${!file_var:-}" ]; then
		[ -r "${!file_var}" ] || die "$file_var: cannot read ${!file_var}"
		val="$(< "${!file_var}")"
	fi
	export "$var"="$val"
	unset "$file_var"
}

setup_env() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
	export PGPORT="${PGPORT:-5432}"
	export POSTGRES_LISTEN_ADDRESS="${POSTGRES_LISTEN_ADDRESS:-127.0.0.1}"
	export POSTGRES_HOST_AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	export POSTGRES_LOOPBACK_AUTH="${POSTGRES_LOOPBACK_AUTH:-trust}"
	if ! [[ "$PGPORT" =~ ^[0-9]+$ ]] || [ "$PGPORT" -lt 1 ] || [ "$PGPORT" -gt 65535 ]; then
		die "PGPORT must be a port number, got '$PGPORT'"
	fi
}

# Directories; as root also fix ownership (a bind-mounted PGDATA is often root-owned).
prepare_dirs() {
	mkdir -p "$PGDATA" /var/run/postgresql
	if [ "$(id -u)" = 0 ]; then
		find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
		chown postgres:postgres /var/run/postgresql
		chmod 3777 /var/run/postgresql
	fi
	chmod 0700 "$PGDATA" 2>/dev/null || :
}

want_help() {
	local arg
	for arg; do
		case "$arg" in
			-'?'|--help|--describe-config|-V|--version|-C) return 0 ;;
		esac
	done
	return 1
}

INCOMPLETE_MARK=.mem0ops-lab-init-incomplete

init_cluster() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		die "PGDATA is empty and POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) is not set; set it, or POSTGRES_HOST_AUTH_METHOD=trust"
	fi
	if [ -n "$(ls -A "$PGDATA" 2>/dev/null)" ]; then
		die "$PGDATA has no PG_VERSION but is not empty; refusing to initialise over it"
	fi
	[ "$POSTGRES_HOST_AUTH_METHOD" = trust ] && log "warning: POSTGRES_HOST_AUTH_METHOD=trust: TCP logins need no password"
	[ "$POSTGRES_LOOPBACK_AUTH" = trust ] && log "note: POSTGRES_LOOPBACK_AUTH=trust (the official image's behaviour): TCP logins from 127.0.0.1 need no password"

	log "initialising $PGDATA (superuser '$POSTGRES_USER', database '$POSTGRES_DB')"
	# shellcheck disable=SC2016  # expanded later by eval, so the password never reaches a command line
	local initdb='initdb --username="$POSTGRES_USER" --auth-local=trust --auth-host="$POSTGRES_LOOPBACK_AUTH"'
	if [ -n "$POSTGRES_PASSWORD" ]; then
		# <(printf ...) with the printf builtin: the password only ever travels through a pipe
		# shellcheck disable=SC2016
		initdb+=' --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD")'
	fi
	eval "$initdb ${POSTGRES_INITDB_ARGS:-}"
	: > "$PGDATA/$INCOMPLETE_MARK"

	# initdb's --auth-host covers 127.0.0.1/::1; like the official image accept other hosts (when
	# POSTGRES_LISTEN_ADDRESS is widened, or a published port's clients) with POSTGRES_HOST_AUTH_METHOD
	printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"

	# temporary server on the unix socket only: nothing can connect over TCP meanwhile,
	# so the health check stays red until the real server starts
	PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -w -t 60 \
		-o "$(printf '%q ' -c listen_addresses= -c port="$PGPORT")" start >/dev/null

	local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER")
	if [ "$POSTGRES_DB" != postgres ]; then
		local exists
		exists="$("${psql[@]}" --dbname postgres -tAq --set db="$POSTGRES_DB" \
			<<< "SELECT 1 FROM pg_database WHERE datname = :'db';")"
		if [ -z "$exists" ]; then
			"${psql[@]}" --dbname postgres -q --set db="$POSTGRES_DB" <<< 'CREATE DATABASE :"db";'
		fi
	fi

	local f
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then log "running $f"; "$f"
				else log "sourcing $f"; . "$f"; fi ;;
			*.sql)    log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
			*.sql.gz) log "running $f"; gzip -dc "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
			*)        log "ignoring $f" ;;
		esac
	done

	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	rm -f "$PGDATA/$INCOMPLETE_MARK"
	log "initialisation complete"
}

# `docker run IMAGE -c shared_buffers=256MB` -> postgres -c shared_buffers=256MB
if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" = postgres ] && ! want_help "$@"; then
	setup_env
	prepare_dirs
	if [ "$(id -u)" = 0 ]; then
		# drop to postgres and run this script again (arguments only: no secret on a command line)
		export HOME=/var/lib/postgresql
		exec setpriv --reuid=postgres --regid=postgres --init-groups \
			/bin/bash "${BASH_SOURCE[0]}" "$@"
	fi

	if [ -f "$PGDATA/$INCOMPLETE_MARK" ]; then
		die "a previous initialisation of $PGDATA did not complete; empty the directory and start again"
	fi
	if [ -s "$PGDATA/PG_VERSION" ]; then
		log "PGDATA $PGDATA holds a PostgreSQL $(< "$PGDATA/PG_VERSION") cluster; skipping initialisation"
	else
		init_cluster
	fi

	unset POSTGRES_PASSWORD
	# defaults first, so `-c listen_addresses=...` / `-c port=...` given as arguments still win
	set -- postgres -c listen_addresses="$POSTGRES_LISTEN_ADDRESS" -c port="$PGPORT" "${@:2}"
	log "starting PostgreSQL on ${POSTGRES_LISTEN_ADDRESS}:${PGPORT}"
fi

exec "$@"
