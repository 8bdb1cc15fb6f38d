#!/usr/bin/env bash
# `make bench`: builds relais-bench (release) and runs it against the stack
# in .local/env (the Makefile sources it first). Arguments go to the
# benchmark, e.g. `scripts/bench.sh --quick`; see `relais-bench --help` and
# docs/benchmarks.md. Figures go to stdout as a markdown table; progress to
# stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DATABASE_URL:-}" ] || [ -z "${NATS_URL:-}" ]; then
	if [ -f .local/env ]; then
		# shellcheck disable=SC1091
		source .local/env
	else
		echo "bench: DATABASE_URL and NATS_URL are unset: run \`make bench\` (it starts the stack)" >&2
		exit 1
	fi
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/relais/target}

if [ -z "${PGBENCH:-}" ]; then
	if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/pgbench" ]; then
		export PGBENCH="$PG_BINDIR/pgbench"
	elif command -v pgbench >/dev/null 2>&1; then
		PGBENCH=$(command -v pgbench)
		export PGBENCH
	else
		echo "bench: pgbench not found: set PG_BINDIR (make bench does) or PGBENCH" >&2
		exit 1
	fi
fi

cargo build -q -p relais-bench --release
exec "$CARGO_TARGET_DIR/release/relais-bench" "$@"
