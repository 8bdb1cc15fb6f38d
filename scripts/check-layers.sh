#!/usr/bin/env bash
# The layers of docs/architecture.md, checked from Cargo's own graph (no
# build): the foundation (crates/) depends only on what is below it, and a
# service or a fake only on the foundation: never on another service, a
# fake, the testkit or a tool (dev-dependencies aside). `make lint` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each crate, and the relais crates it may depend on (normal dependencies).
allowed() {
	case "$1" in
	relais-proto) echo "" ;;
	relais-domain) echo "relais-proto" ;;
	relais-platform) echo "relais-domain relais-proto" ;;
	relais-catalogue | relais-orders | relais-planning | relais-billing | relais-connector | relais-gateway | relais-reference-erp)
		echo "relais-domain relais-platform relais-proto" ;;
	*) return 1 ;;
	esac
}

bad=0
for crate in relais-proto relais-domain relais-platform relais-catalogue relais-orders \
	relais-planning relais-billing relais-connector relais-gateway relais-reference-erp; do
	ok=$(allowed "$crate")
	tree=$(cargo tree -q -e normal -p "$crate" --prefix none --format '{p}')
	for dep in $(grep -o '^relais-[a-z-]*' <<<"$tree" | sort -u); do
		[ "$dep" = "$crate" ] && continue
		if ! grep -qw -- "$dep" <<<"$ok"; then
			echo "check-layers: $crate depends on $dep (allowed: ${ok:-nothing of ours}; see docs/architecture.md)" >&2
			bad=1
		fi
	done
done
[ "$bad" = 0 ] && echo "check-layers: crates/ and services/ depend only downwards"
exit "$bad"
