# shellcheck shell=bash
# Stops a process we started: SIGTERM, 10 s to go, then SIGKILL, and waits
# until the kernel has reaped it and freed its ports (a restart right away
# would find them still taken). Sourced by scripts/stack.sh and
# scripts/prometheus.sh, which define `say`.
stop_pid() {
	local pid=$1 name=$2
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name $pid ignored SIGTERM for 10 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
}
