#!/usr/bin/env bash
# A private Prometheus for `make run`: scrapes every service of `relais dev`
# and evaluates the alert rules of k8s/observability/alerts.yml.
#
#   scripts/prometheus.sh up       start (or reuse) it, reload its config and
#                                  rules, print its URL
#   scripts/prometheus.sh down     stop what `up` started
#   scripts/prometheus.sh url      print its URL
#   scripts/prometheus.sh install  install Debian's prometheus package
#                                  (prometheus, promtool) if either is missing
#
# Everything lives under .local/prometheus/: prometheus.yml (written by `up`,
# edits are overwritten), data/ (the TSDB), prometheus.log, prometheus.pid.
# Targets come from .local/prometheus/targets.json, a file_sd list that
# `relais dev` writes, one entry per service, e.g.
#   [{"targets":["127.0.0.1:41234"],"labels":{"service":"orders"}}, ...]
# (`up` creates it as [] when it is missing; Prometheus rereads it when it
# changes, so a new `relais dev` needs no restart of Prometheus).
#
# Debian's package also installs a system service (/etc/prometheus,
# /var/lib/prometheus, port 9090): this script neither uses nor needs it.
# Where it runs (a machine with systemd), it holds port 9090: stop it
# (systemctl disable --now prometheus) or set RELAIS_PROMETHEUS_PORT.
#
# Knobs: RELAIS_PROMETHEUS_PORT (9090), PROMETHEUS_BIN, PROMTOOL_BIN.
set -euo pipefail
umask 022

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd -P)
# shellcheck source=scripts/lib/stop.sh
source "$SCRIPT_DIR/lib/stop.sh"
LOCAL="$ROOT/.local"
DIR="$LOCAL/prometheus"
CONF="$DIR/prometheus.yml"
TARGETS="$DIR/targets.json"
DATA="$DIR/data"
PIDFILE="$DIR/prometheus.pid"
LOG="$DIR/prometheus.log"
LOCK_FILE="$LOCAL/prometheus.lock"
RULES="$ROOT/k8s/observability/alerts.yml"
PORT=${RELAIS_PROMETHEUS_PORT:-9090}
URL="http://127.0.0.1:$PORT"
# The services of k8s/observability/metrics.txt, for the relabelling below.
SERVICES="catalogue orders planning billing connector gateway"

say() { printf 'prometheus: %s\n' "$*" >&2; }
die() {
	printf 'prometheus: error: %s\n' "$*" >&2
	exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }

case "$PORT" in
'' | *[!0-9]*) die "RELAIS_PROMETHEUS_PORT must be a port number, got '$PORT'" ;;
esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then die "RELAIS_PROMETHEUS_PORT out of range: $PORT"; fi

tcp_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

http_ok() { curl -fsS -o /dev/null -m 2 "$1" 2>/dev/null; }

apt_install() {
	is_root || die "need to install Debian packages ($*) but not running as root; run: sudo apt-get install -y --no-install-recommends $*"
	command -v apt-get >/dev/null 2>&1 || die "need packages ($*) and apt-get is not available; install them by hand"
	say "installing Debian packages: $*"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq </dev/null >/dev/null || die "apt-get update failed"
	# No recommends: the node exporter would be one more system service.
	apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null >/dev/null ||
		die "apt-get install $* failed"
}

PROMETHEUS_BIN=${PROMETHEUS_BIN:-$(command -v prometheus || true)}
PROMTOOL_BIN=${PROMTOOL_BIN:-$(command -v promtool || true)}

cmd_install() {
	if [ -n "$PROMETHEUS_BIN" ] && [ -x "$PROMETHEUS_BIN" ] && [ -n "$PROMTOOL_BIN" ] && [ -x "$PROMTOOL_BIN" ]; then
		return 0
	fi
	apt_install prometheus
	PROMETHEUS_BIN=$(command -v prometheus) || die "prometheus is still not on PATH after installing Debian's package"
	PROMTOOL_BIN=$(command -v promtool) || die "promtool is still not on PATH after installing Debian's package"
	say "installed $("$PROMETHEUS_BIN" --version 2>&1 | head -n 1)"
}

take_lock() {
	mkdir -p "$LOCAL"
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$LOCK_FILE"
		flock -w 120 9 || die "another scripts/prometheus.sh is still running (lock $LOCK_FILE)"
	fi
}

# Pid of the Prometheus `up` started (running with our config), or fail.
our_pid() {
	local pid
	[ -f "$PIDFILE" ] || return 1
	pid=$(tr -dc 0-9 <"$PIDFILE")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--config.file=$CONF" || return 1
	echo "$pid"
}

write_config() {
	mkdir -p "$DIR" "$DATA"
	if [ ! -s "$TARGETS" ]; then
		printf '[]\n' >"$TARGETS"
	fi
	# `relais dev` runs every service in one process, whose services share
	# one registry: each admin port then serves every service's series.
	# Each target keeps the series of its own service (and those carrying
	# no service label), so that nothing is counted once per target; in a
	# process of its own a service only exports its own anyway.
	local keep="" s
	for s in $SERVICES; do keep="$keep$s;$s|"; done
	keep="${keep}[^;]*;"
	local tmp="$CONF.tmp"
	cat >"$tmp" <<EOF
# Written by scripts/prometheus.sh up; edits are overwritten.
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s

rule_files:
  - $RULES

scrape_configs:
  - job_name: relais
    # Written by relais dev: one entry per service, labelled service=<name>.
    file_sd_configs:
      - files:
          - $TARGETS
        refresh_interval: 5s
    # A series' own service label, conflicting with the target's, becomes
    # exported_service: keep it only where both agree, then drop it.
    metric_relabel_configs:
      - source_labels: [service, exported_service]
        separator: ";"
        regex: "$keep"
        action: keep
      - regex: exported_service
        action: labeldrop
EOF
	mv "$tmp" "$CONF"
}

check_config() {
	if [ -n "$PROMTOOL_BIN" ] && [ -x "$PROMTOOL_BIN" ]; then
		local out
		out=$("$PROMTOOL_BIN" check config "$CONF" 2>&1) || {
			printf '%s\n' "$out" >&2
			die "promtool check config $CONF failed (the rules: $RULES)"
		}
	fi
}

cmd_up() {
	take_lock
	cmd_install
	write_config
	check_config
	local pid
	if pid=$(our_pid); then
		# Already running: reread the config, the rules and the targets.
		kill -HUP "$pid"
	else
		if tcp_open 127.0.0.1 "$PORT"; then
			die "port $PORT on 127.0.0.1 is already taken by another process (Debian's prometheus service? systemctl disable --now prometheus); stop it or set RELAIS_PROMETHEUS_PORT"
		fi
		say "starting Prometheus on 127.0.0.1:$PORT"
		printf '\n=== %s start\n' "$(date -Is)" >>"$LOG"
		# Started from here (no subshell), so that $! is Prometheus itself and
		# nothing left behind holds the lock (fd 9).
		setsid nohup "$PROMETHEUS_BIN" \
			--config.file="$CONF" \
			--storage.tsdb.path="$DATA" \
			--storage.tsdb.retention.time=7d \
			--web.listen-address="127.0.0.1:$PORT" \
			</dev/null >>"$LOG" 2>&1 9>&- &
		pid=$!
		echo "$pid" >"$PIDFILE"
	fi
	local i
	for i in $(seq 1 150); do
		http_ok "$URL/-/ready" && break
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$LOG" >&2 || true
			die "Prometheus exited at start (log: $LOG)"
		fi
		[ "$i" -lt 150 ] || {
			tail -n 20 "$LOG" >&2 || true
			die "Prometheus was not ready within 30 s (log: $LOG)"
		}
		sleep 0.2
	done
	# Debian's build has only the classic UI (under /classic/); upstream's
	# serves /targets and /alerts.
	local ui="$URL"
	http_ok "$URL/targets" || ui="$URL/classic"
	echo "Prometheus: $URL (targets: $ui/targets, alerts: $ui/alerts)"
}

cmd_down() {
	take_lock
	local pid
	if ! pid=$(our_pid); then
		rm -f "$PIDFILE"
		say "not running"
		return 0
	fi
	stop_pid "$pid" Prometheus
	rm -f "$PIDFILE"
	say "stopped"
}

usage() {
	cat >&2 <<EOF
usage: scripts/prometheus.sh up|down|url|install
  up       start (or reuse and reload) the private Prometheus; print its URL
  down     stop it
  url      print its URL
  install  install Debian's prometheus package if prometheus/promtool are missing
EOF
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
url) echo "$URL" ;;
install) cmd_install ;;
-h | --help | help) usage ;;
*)
	usage
	exit 2
	;;
esac
