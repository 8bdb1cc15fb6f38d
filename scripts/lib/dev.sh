# shellcheck shell=bash
# A `relais dev` of a script's own, beside `make run` and the other test
# scripts: its own database on the stack's Postgres, its own NATS namespace,
# ports the system picks. Source it after `source .local/env`, from a script
# running with `set -euo pipefail`:
#
#   source scripts/lib/dev.sh
#   trap 'dev_stop' EXIT           # or dev_stop "$rc" from a cleanup of its own
#   dev_start subscriber "$WORK"   # a name for the database and namespace, a scratch folder
#   ... "$RELAIS" order ...        # the relais command, talking to that relais dev
#
# dev_start exports what the relais command and the services read
# (DATABASE_URL of the new database, RELAIS_NAMESPACE, the services'
# addresses, HTTP_ADDR), and sets RELAIS (the binary), DEV_PID, DEV_DB,
# DEV_NS, DEV_LOG and DEV_GW (the gateway's URL). dev_stop [STATUS] stops it
# (SIGINT to its process group, then SIGKILL after 10 s) and drops the
# database; given a failed status (or called by a trap after a failure),
# it prints the end of relais dev's log.

# shellcheck disable=SC2034 # DEV_GW and DEV_NS are for the sourcing script
DEV_PID="" DEV_DB="" DEV_NS="" DEV_LOG="" DEV_GW="" DEV_ADMIN_URL=""

dev_start() { # NAME WORKDIR
	local name=$1 work=$2 id
	id="$(date +%s)_$$"
	DEV_ADMIN_URL=$DATABASE_URL
	DEV_DB="test_${name}_$id"
	DEV_NS="$name$id"
	DEV_LOG="$work/dev.log"
	mkdir -p "$work"
	psql "$DEV_ADMIN_URL" -qAt -c "create database $DEV_DB" >/dev/null
	local ports
	read -r -a ports < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
	DATABASE_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$DEV_ADMIN_URL" "$DEV_DB")
	export DATABASE_URL RELAIS_NAMESPACE=$DEV_NS
	export CATALOGUE_ADDR=http://127.0.0.1:${ports[0]} ORDERS_ADDR=http://127.0.0.1:${ports[1]}
	export PLANNING_ADDR=http://127.0.0.1:${ports[2]} BILLING_ADDR=http://127.0.0.1:${ports[3]}
	export CONNECTOR_ADDR=http://127.0.0.1:${ports[4]} REFERENCE_ERP_URL=http://127.0.0.1:${ports[5]}
	export HTTP_ADDR=127.0.0.1:${ports[6]}

	cargo build -q -p relais-cli
	RELAIS="$CARGO_TARGET_DIR/debug/relais"
	set -m
	(
		cd "$work" || exit
		exec "$RELAIS" dev
	) >"$DEV_LOG" 2>&1 &
	DEV_PID=$!
	set +m
	local _
	for _ in $(seq 600); do
		grep -q "Relais is up" "$DEV_LOG" && break
		kill -0 "$DEV_PID" 2>/dev/null || { echo "relais dev stopped" >&2; return 1; }
		sleep 0.2
	done
	grep -q "Relais is up" "$DEV_LOG" || { echo "relais dev did not come up in 120 s" >&2; return 1; }
	# shellcheck disable=SC2034 # for the sourcing script
	DEV_GW="http://$HTTP_ADDR"
}

dev_stop() { # [STATUS]: the script's, to print the log after a failure
	local rc=${1:-$?}
	if [ -n "$DEV_PID" ]; then
		kill -INT -- "-$DEV_PID" 2>/dev/null || true
		local _
		for _ in $(seq 50); do kill -0 "$DEV_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL -- "-$DEV_PID" 2>/dev/null || true
		if [ "$rc" -ne 0 ] && [ -f "$DEV_LOG" ]; then
			echo "relais dev's last lines ($DEV_LOG):" >&2
			tail -n 30 "$DEV_LOG" >&2
		fi
		DEV_PID=""
	fi
	if [ -n "$DEV_DB" ]; then
		psql "$DEV_ADMIN_URL" -qAt -c "drop database if exists $DEV_DB with (force)" >/dev/null 2>&1 || true
		DEV_DB=""
	fi
	return "$rc"
}
