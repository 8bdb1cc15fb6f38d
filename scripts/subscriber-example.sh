#!/usr/bin/env bash
# The example subscriber of docs/subscribing.md (examples/subscriber-python),
# run as a test against a `relais dev` of its own (scripts/lib/dev.sh): an
# order placed and confirmed through the relais command, and the example's
# durable pull consumer on the orders stream must apply its order.placed
# exactly once although the message comes twice:
#
#   1. a first run handles order.placed (its inbox row and effect commit),
#      then hands the message back unacknowledged and exits, as if it had
#      died before its ack (--exit-before-ack, exit status 3);
#   2. a second run on the same durable and the same SQLite file receives
#      that message again (delivery 2) and finds its event id in the inbox:
#      "duplicate", acked, nothing applied; then order.confirmed;
#   3. `relais outbox republish` sends the order's events again with the
#      same ids: JetStream drops them inside its 2-minute duplicate window,
#      so a third run receives nothing (past the window, the inbox would
#      drop them as in 2).
# The order's row in the example's SQLite ends at status confirmed,
# version 2, with two inbox rows.
#
# nats-py, protobuf and grpcio-tools come from PyPI, pinned in
# examples/subscriber-python/requirements.txt, into a venv under
# .local/subscriber-python (made again when the file changes); the classes
# are generated from proto/ at each run. Without PyPI the script fails,
# unless RELAIS_SUBSCRIBER_ALLOW_SKIP=1 (make test sets it), where it says
# so and skips (exit 0), as scripts/fuzz-api.sh does.
#
# The subscriber logs in as the stack's `test` user: the local stack has
# no user of a subscribing team (docs/subscribing.md, Credentials, says how
# a team gets one).
#
# Usage: scripts/subscriber-example.sh   (make test runs it; about 40 s
# once built). KEEP_SUBSCRIBER=1 keeps the scratch folder.
# Needs the stack (scripts/stack.sh up; .local/env).
set -euo pipefail
umask 022

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
EXAMPLE="$ROOT/examples/subscriber-python"
REQUIREMENTS="$EXAMPLE/requirements.txt"
VENV="$ROOT/.local/subscriber-python"
# The demo tenant relais dev seeds.
TENANT=01930000-0000-7000-8000-000000000001

say() { printf 'subscriber-example: %s\n' "$*" >&2; }
die() {
	printf 'subscriber-example: error: %s\n' "$*" >&2
	exit 1
}
started=$(date +%s)

# ------------------------------------------------------------ the venv --

stamp() { sha256sum "$REQUIREMENTS" | cut -c1-64; }
installed() { [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.requirements" 2>/dev/null)" = "$(stamp)" ]; }

install_venv() {
	mkdir -p "$ROOT/.local"
	exec 9>"$ROOT/.local/subscriber-python.lock"
	command -v flock >/dev/null 2>&1 && { flock -w 600 9 || die "another scripts/subscriber-example.sh is installing"; }
	installed && return 0
	say "installing $(grep -c '==' "$REQUIREMENTS") pinned packages into $VENV"
	python3 -m venv --clear "$VENV" >/dev/null 2>&1 || {
		say "'python3 -m venv $VENV' failed (Debian: apt-get install -y python3-venv)"
		return 1
	}
	PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$VENV/bin/python" -m pip install -q \
		--timeout 30 --retries 2 -r "$REQUIREMENTS" </dev/null || return 1
	stamp >"$VENV/.requirements"
}

if ! installed && ! install_venv; then
	if [ "${RELAIS_SUBSCRIBER_ALLOW_SKIP:-}" = 1 ]; then
		say "the example's packages could not be installed from PyPI: the example subscriber is SKIPPED (RELAIS_SUBSCRIBER_ALLOW_SKIP=1)"
		exit 0
	fi
	die "the example's packages could not be installed from PyPI (RELAIS_SUBSCRIBER_ALLOW_SKIP=1 skips instead)"
fi
PY="$VENV/bin/python"

# ------------------------------------------------- its own relais dev --

[ -f .local/env ] || scripts/stack.sh up
# shellcheck disable=SC1091
source .local/env
: "${CARGO_TARGET_DIR:?.local/env sets no CARGO_TARGET_DIR: run scripts/stack.sh up again}"
: "${RELAIS_DEV_SEED:?.local/env sets no RELAIS_DEV_SEED: run scripts/stack.sh up again}"
export CARGO_TARGET_DIR

WORK="$ROOT/.local/subscriber-$(date +%s)_$$"
cleanup() {
	local rc=$?
	dev_stop "$rc" || true
	if [ "${KEEP_SUBSCRIBER:-}" = 1 ]; then
		say "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
# shellcheck source=scripts/lib/dev.sh
source scripts/lib/dev.sh
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK"
"$PY" "$EXAMPLE/generate.py" "$WORK/generated" 2>&1 | sed 's/^/subscriber-example: /' >&2
say "building the relais command and starting relais dev"
dev_start subscriber "$WORK"
say "relais dev is up (database $DEV_DB, namespace $DEV_NS, $(($(date +%s) - started)) s)"

# --------------------------------------------------------- the order --

eval "$("$RELAIS" demo-ids)"
: "${RESIDENT:?relais demo-ids named no RESIDENT}"
SINCE=$(date -u -d '-2 seconds' +%Y-%m-%dT%H:%M:%S+00:00)
ORDER=$("$RELAIS" order --customer "$RESIDENT" --line ENT-001=2 --email accueil@tilleuls.example --id-only)
[[ $ORDER =~ ^[0-9a-f-]{36}$ ]] || die "relais order printed no order id: $ORDER"
"$RELAIS" order-status "$ORDER" confirmed >&2
say "placed and confirmed order $ORDER"

# ------------------------------------------------------ the subscriber --

DURABLE="example-subscriber-$$"
subscriber() { # OUT ARGS...
	local out=$1
	shift
	local rc=0
	(
		cd "$WORK"
		NATS_USER=test NATS_PASSWORD=$(printf '%s' "$RELAIS_DEV_SEED:nats:test" | sha256sum | cut -c1-64) \
			RELAIS_PROTO_PY="$WORK/generated" RELAIS_NAMESPACE="$DEV_NS" \
			exec "$PY" "$EXAMPLE/subscriber.py" --nats "$NATS_URL" --durable "$DURABLE" \
			--inbox-prefix _INBOX_example --tenant "$TENANT" --since "$SINCE" \
			--db "$WORK/subscriber.sqlite3" "$@"
	) >"$WORK/$out" 2>"$WORK/$out.err" || rc=$?
	sed 's/^/    /' "$WORK/$out" >&2
	return "$rc"
}
count() { grep -cE "$1" "$WORK/$2" || true; }

say "run 1: handles order.placed, then exits before its ack"
rc=0
subscriber run1 --max-events 2 --timeout 60 --exit-before-ack || rc=$?
[ "$rc" = 3 ] || { cat "$WORK/run1.err" >&2; die "run 1 ended with status $rc, not 3 (exited before the ack)"; }
[ "$(count "^order\.placed order=$ORDER " run1)" = 1 ] || die "run 1 did not handle order.placed of $ORDER"

say "run 2: the same durable gets the message again"
subscriber run2 --max-events 2 --timeout 60 || { cat "$WORK/run2.err" >&2; die "run 2 failed"; }
[ "$(count "^duplicate order\.placed order=$ORDER .*delivery=2 " run2)" = 1 ] ||
	die "run 2 did not receive order.placed of $ORDER again as a duplicate (delivery 2)"
[ "$(count "^order\.confirmed order=$ORDER version=2 " run2)" = 1 ] ||
	die "run 2 did not handle order.confirmed of $ORDER"

say "republishing the orders outbox since $SINCE"
"$RELAIS" outbox republish --service orders --since "$SINCE" >&2
for _ in $(seq 50); do
	"$RELAIS" outbox backlog --service orders | grep -q ': 0 unpublished' && break
	sleep 0.2
done
"$RELAIS" outbox backlog --service orders | grep -q ': 0 unpublished' || die "the orders outbox was not published again"
say "run 3: nothing new may come (JetStream's duplicate window)"
subscriber run3 --max-events 1 --timeout 5 || { cat "$WORK/run3.err" >&2; die "run 3 failed"; }
[ ! -s "$WORK/run3" ] || die "run 3 received a republished event: $(cat "$WORK/run3")"

placed=$(cat "$WORK"/run1 "$WORK"/run2 "$WORK"/run3 | grep -cE "^order\.placed order=$ORDER " || true)
[ "$placed" = 1 ] || die "order.placed of $ORDER was applied $placed times, not once"
state=$("$PY" - "$WORK/subscriber.sqlite3" "$ORDER" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
row = db.execute("select status, version from orders where order_id = ?", (sys.argv[2],)).fetchone()
inbox = db.execute("select count(*) from inbox").fetchone()[0]
print(f"{row[0] if row else None} {row[1] if row else None} {inbox}")
PY
)
[ "$state" = "ORDER_STATUS_CONFIRMED 2 2" ] || die "the example's copy of $ORDER is '$state', not 'ORDER_STATUS_CONFIRMED 2 2' (status, version, inbox rows)"

say "passed: order.placed of $ORDER applied once over 2 deliveries and a republish; the copy is confirmed, version 2 ($(($(date +%s) - started)) s)"
