#!/usr/bin/env bash
# The README's walkthrough, run as written, as a test: every ```sh block
# after "## A walk through the demo" runs in order in one shell, in a
# scratch directory, against a `relais dev` of its own (its own database on
# the stack's Postgres, its own NATS namespace, its own ports), and what each
# block prints is checked against the `<!-- expect: REGEX -->` notes that
# follow it (Perl regexes, matched line by line).
#
# Notes before a block:
#   <!-- walkthrough: skip ... -->        not run
#   <!-- walkthrough: background ... -->  started in the background (e.g. a
#                                         command that runs until Ctrl-C),
#                                         its expectations checked at the end
#   <!-- walkthrough: wait ... -->        a read of something that happens
#                                         asynchronously: run again until its
#                                         expectations hold (30 s at most)
#
# Usage: scripts/readme-walkthrough.sh [README.md]   (make test runs it)
# Needs the stack (scripts/stack.sh up; .local/env). Cleans up after itself;
# KEEP_WALKTHROUGH=1 keeps the scratch directory and database.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
README=${1:-$ROOT/README.md}
cd "$ROOT"
[ -f .local/env ] || scripts/stack.sh up
# shellcheck disable=SC1091
source .local/env
# The build the README's `cargo run` must reuse (.local/env names it).
: "${CARGO_TARGET_DIR:?.local/env sets no CARGO_TARGET_DIR: run scripts/stack.sh up again}"
# The stack's own URL (the README's blocks source the walkthrough's env).
ADMIN_URL=$DATABASE_URL

say() { printf 'walkthrough: %s\n' "$*" >&2; }
started=$(date +%s)

ID="$(date +%s)_$$"
WORK="$ROOT/.local/walkthrough-$ID"
DB="test_readme_$ID"
NS="readme$ID"
DEV_PID=""
BG_PIDS=()

cleanup() {
	local rc=$?
	for pid in "${BG_PIDS[@]}"; do kill -INT -- "-$pid" 2>/dev/null || true; done
	if [ -n "$DEV_PID" ]; then
		kill -INT -- "-$DEV_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$DEV_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL -- "-$DEV_PID" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ] && [ -n "${CURRENT:-}" ]; then
		say "step $CURRENT stopped with status $rc"
		(fail "$CURRENT") || true
	fi
	if [ "$rc" -ne 0 ] && [ -f "$WORK/dev.log" ]; then
		say "relais dev's last lines:"
		tail -n 30 "$WORK/dev.log" >&2
	fi
	if [ "${KEEP_WALKTHROUGH:-}" = 1 ]; then
		say "kept $WORK and database $DB"
	else
		cd "$ROOT"
		rm -rf "$WORK"
		psql "$ADMIN_URL" -qAt -c "drop database if exists $DB with (force)" >/dev/null || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK/steps"
psql "$ADMIN_URL" -qAt -c "create database $DB" >/dev/null

# The README's blocks, with what is noted around them.
python3 - "$README" "$WORK/steps" <<'PY'
import os, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
out = sys.argv[2]
start = text.find("## A walk through the demo")
if start < 0:
    sys.exit("README: no '## A walk through the demo' section")
text = text[start:]
n = 0
pending = "run"
pos = 0
block = re.compile(r"^```sh\n(.*?)^```\n", re.S | re.M)
note = re.compile(r"<!-- walkthrough: (\w+)")
expect = re.compile(r"^<!-- expect: (.*) -->$", re.M)
while True:
    m = block.search(text, pos)
    if not m:
        break
    notes = note.findall(text[pos:m.start()])
    kind = notes[-1] if notes else "run"
    # Expectations: the notes right after the block, up to the next text.
    rest = text[m.end():]
    tail = re.match(r"(?:[ \t]*<!-- expect: .* -->\n)*", rest).group(0)
    pos = m.end() + len(tail)
    if kind == "skip":
        continue
    n += 1
    with open(os.path.join(out, f"{n:02}.sh"), "w", encoding="utf-8") as f:
        f.write(m.group(1))
    with open(os.path.join(out, f"{n:02}.kind"), "w") as f:
        f.write(kind + "\n")
    with open(os.path.join(out, f"{n:02}.expect"), "w", encoding="utf-8") as f:
        for e in expect.findall(tail):
            f.write(e + "\n")
if n == 0:
    sys.exit("README: no sh blocks in the walkthrough")
PY

# Ports of its own for every service.
read -r P_CAT P_ORD P_PLA P_BIL P_CON P_ERP P_GW < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
DB_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$DATABASE_URL" "$DB")
mkdir -p "$WORK/.local"
{
	echo "# The walkthrough's own relais dev (scripts/readme-walkthrough.sh)"
	printf 'export DATABASE_URL=%q\n' "$DB_URL"
	printf 'export NATS_URL=%q\n' "$NATS_URL"
	echo 'export RELAIS_ENV=dev'
	printf 'export CARGO_TARGET_DIR=%q\n' "$CARGO_TARGET_DIR"
	echo "export RELAIS_NAMESPACE=$NS"
	echo "export CATALOGUE_ADDR=http://127.0.0.1:$P_CAT"
	echo "export ORDERS_ADDR=http://127.0.0.1:$P_ORD"
	echo "export PLANNING_ADDR=http://127.0.0.1:$P_PLA"
	echo "export BILLING_ADDR=http://127.0.0.1:$P_BIL"
	echo "export CONNECTOR_ADDR=http://127.0.0.1:$P_CON"
	echo "export REFERENCE_ERP_URL=http://127.0.0.1:$P_ERP"
	echo "export HTTP_ADDR=127.0.0.1:$P_GW"
} >"$WORK/.local/env"

say "building the relais command"
cargo build -q -p relais-cli
# The README's commands must reuse this build, not make a second one.
RELAIS_BIN="$CARGO_TARGET_DIR/debug/relais"
built=$(stat -c %Y "$RELAIS_BIN")
say "starting relais dev in $WORK (database $DB, namespace $NS)"
set -m
(
	cd "$WORK"
	# shellcheck disable=SC1091
	source .local/env
	exec "$RELAIS_BIN" dev
) >"$WORK/dev.log" 2>&1 &
DEV_PID=$!
set +m
for _ in $(seq 600); do
	grep -q "Relais is up" "$WORK/dev.log" && break
	kill -0 "$DEV_PID" 2>/dev/null || {
		say "relais dev stopped"
		exit 1
	}
	sleep 0.2
done
grep -q "Relais is up" "$WORK/dev.log" || {
	say "relais dev did not come up in 120 s"
	exit 1
}
say "relais dev is up ($(($(date +%s) - started)) s)"

# Checks a step's output against its expectations; prints what is missing.
check() { # STEP
	local ok=0 re
	while IFS= read -r re; do
		[ -n "$re" ] || continue
		if ! grep -Pq -- "$re" "$WORK/steps/$1.out"; then
			[ "${2:-}" = quiet ] || say "step $1: expected a line matching: $re"
			ok=1
		fi
	done <"$WORK/steps/$1.expect"
	return "$ok"
}

fail() { # STEP
	say "step $1 failed; it ran:"
	sed 's/^/    /' "$WORK/steps/$1.sh" >&2
	say "and printed:"
	sed 's/^/    /' "$WORK/steps/$1.out" >&2
	exit 1
}

# Every block in one shell, in the scratch directory, as a user would
# (no pipefail, no nounset: a user's shell has neither).
cd "$WORK"
set +o pipefail +u
# As a user's shell: the build directory comes from .local/env only.
unset CARGO_TARGET_DIR
CURRENT=""
BG_STEPS=()
for f in "$WORK"/steps/*.sh; do
	step=$(basename "$f" .sh)
	kind=$(cat "$WORK/steps/$step.kind")
	out="$WORK/steps/$step.out"
	case "$kind" in
	background)
		set -m
		# shellcheck disable=SC1090
		(source "$f") >"$out" 2>&1 &
		BG_PIDS+=("$!")
		set +m
		BG_STEPS+=("$step")
		sleep 2 # subscribed before what follows
		say "step $step started in the background: $(head -n 1 "$f" | cut -c1-70)"
		continue
		;;
	wait)
		deadline=$(($(date +%s) + 30))
		while :; do
			# shellcheck disable=SC1090
			if (source "$f") >"$out" 2>&1 && check "$step" quiet; then
				break
			fi
			if [ "$(date +%s)" -ge "$deadline" ]; then
				check "$step" || true
				fail "$step"
			fi
			sleep 0.5
		done
		# Once more in this shell, for the variables it sets.
		# shellcheck disable=SC1090
		source "$f" >"$out" 2>&1 || fail "$step"
		;;
	*)
		# In this shell (the variables it sets are the next blocks'); a
		# command that fails stops the walkthrough (set -e), and the EXIT
		# trap shows the step.
		CURRENT=$step
		# shellcheck disable=SC1090
		source "$f" >"$out" 2>&1
		CURRENT=""
		;;
	esac
	check "$step" || fail "$step"
	say "step $step ok: $(head -n 1 "$f" | cut -c1-90)"
done

# What the background commands saw.
sleep 1
for pid in "${BG_PIDS[@]}"; do kill -INT -- "-$pid" 2>/dev/null || true; done
for step in "${BG_STEPS[@]}"; do
	check "$step" || fail "$step"
	say "step $step ok (background): $(head -n 1 "$WORK/steps/$step.sh" | cut -c1-80)"
done
BG_PIDS=()
if [ "$(stat -c %Y "$RELAIS_BIN")" != "$built" ]; then
	say "the README's commands built the relais command again instead of reusing make's build"
	exit 1
fi
say "the README's walkthrough works as written ($(($(date +%s) - started)) s)"
