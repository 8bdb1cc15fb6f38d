#!/usr/bin/env bash
# Tryton for the connector's integration tests: trytond 8.2 with the sale
# modules from PyPI in .local/tryton, and a ready SQLite database (company,
# chart of accounts, fiscal year, tax, payment term) kept as a template in
# .local/tryton/template, made once (about 40 s) and remade when this
# script, scripts/tryton/setup_db.py or the package versions change.
#
#   scripts/tryton.sh up    install and build the template (if needed);
#                           write .local/tryton/env
#   scripts/tryton.sh env   print .local/tryton/env
#
# .local/tryton/env exports RELAIS_TRYTOND (the trytond executable) and
# RELAIS_TRYTON_TEMPLATE (the database file); each test copies the file and
# serves it with its own trytond on a free loopback port. The admin
# password of the template is `admin`.
set -euo pipefail
umask 022

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd -P)
VENV="$ROOT/.local/tryton"
TEMPLATE_DIR="$VENV/template"
ENV_FILE="$VENV/env"
PACKAGES=("trytond>=8.2,<8.3" "trytond_sale>=8.2,<8.3" "trytond_sale_discount>=8.2,<8.3" "proteus>=8.2,<8.3")
DATABASE=relais

say() { printf 'tryton: %s\n' "$*" >&2; }
die() {
	printf 'tryton: error: %s\n' "$*" >&2
	exit 1
}

ensure_venv() {
	if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
		python3 -m venv --clear "$VENV" >/dev/null 2>&1 ||
			die "'python3 -m venv $VENV' failed (Debian: apt-get install -y python3-venv)"
	fi
	if ! "$VENV/bin/python" -c 'import trytond.modules.sale_discount, proteus' >/dev/null 2>&1; then
		say "installing ${PACKAGES[*]} into $VENV"
		PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$VENV/bin/python" -m pip install -q "${PACKAGES[@]}" </dev/null ||
			die "pip install of the Tryton packages failed"
	fi
}

# What the template was built from: any change rebuilds it.
stamp() {
	{
		"$VENV/bin/python" -m pip freeze 2>/dev/null | grep -i -E '^(trytond|proteus)'
		sha256sum "$SCRIPT_DIR/tryton.sh" "$SCRIPT_DIR/tryton/setup_db.py" | cut -d' ' -f1
	} | sha256sum | cut -d' ' -f1
}

write_conf() { # DIR
	cat >"$1/trytond.conf" <<CONF
[database]
uri = sqlite://
path = $1
CONF
}

build_template() {
	local want t0 work
	want=$(stamp)
	if [ -f "$TEMPLATE_DIR/$DATABASE.sqlite" ] && [ "$(cat "$TEMPLATE_DIR/stamp" 2>/dev/null)" = "$want" ]; then
		return 0
	fi
	t0=$(date +%s)
	say "building the Tryton template database (once; about 40 s)"
	work=$(mktemp -d "$VENV/build.XXXXXX")
	write_conf "$work"
	printf 'admin\n' >"$work/admin.pass"
	: >"$work/$DATABASE.sqlite"
	TRYTONPASSFILE="$work/admin.pass" "$VENV/bin/trytond-admin" -c "$work/trytond.conf" -d "$DATABASE" \
		--all --email admin@example.com >"$work/admin.log" 2>&1 ||
		{ tail -n 20 "$work/admin.log" >&2; die "trytond-admin --all failed (log: $work/admin.log)"; }
	"$VENV/bin/trytond-admin" -c "$work/trytond.conf" -d "$DATABASE" -u sale sale_discount \
		--activate-dependencies >>"$work/admin.log" 2>&1 ||
		{ tail -n 20 "$work/admin.log" >&2; die "trytond-admin -u sale failed (log: $work/admin.log)"; }
	"$VENV/bin/python" "$SCRIPT_DIR/tryton/setup_db.py" "$work/trytond.conf" "$DATABASE" >>"$work/admin.log" 2>&1 ||
		{ tail -n 20 "$work/admin.log" >&2; die "setting up the company and accounts failed (log: $work/admin.log)"; }
	rm -rf "$TEMPLATE_DIR"
	mkdir -p "$TEMPLATE_DIR"
	mv "$work/$DATABASE.sqlite" "$TEMPLATE_DIR/$DATABASE.sqlite"
	printf '%s\n' "$want" >"$TEMPLATE_DIR/stamp"
	rm -rf "$work"
	say "template ready in $(($(date +%s) - t0)) s: $TEMPLATE_DIR/$DATABASE.sqlite"
}

write_env() {
	local tmp
	tmp=$(mktemp "$VENV/env.XXXXXX")
	{
		printf '# Written by scripts/tryton.sh up; source it: . .local/tryton/env\n'
		printf 'export RELAIS_TRYTOND=%q\n' "$VENV/bin/trytond"
		printf 'export RELAIS_TRYTON_TEMPLATE=%q\n' "$TEMPLATE_DIR/$DATABASE.sqlite"
	} >"$tmp"
	chmod 644 "$tmp"
	mv -f "$tmp" "$ENV_FILE"
}

case "${1:-}" in
up)
	mkdir -p "$ROOT/.local"
	exec 9>"$ROOT/.local/tryton.lock"
	command -v flock >/dev/null 2>&1 && { flock -w 600 9 || die "another scripts/tryton.sh is running"; }
	ensure_venv
	build_template
	write_env
	echo "tryton: $VENV/bin/trytond, template $TEMPLATE_DIR/$DATABASE.sqlite (env: $ENV_FILE)"
	;;
env) cat "$ENV_FILE" ;;
*)
	echo "usage: scripts/tryton.sh up|env" >&2
	exit 2
	;;
esac
