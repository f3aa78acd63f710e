#!/usr/bin/env bash
# Stops the daemons start.sh started, by their pid files, in reverse order.
set -uo pipefail
for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/slurmdbd.pid /run/mysqld/mysqld.pid /run/munge/munged.pid; do
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        kill "$(cat "$pidfile")"
        for _ in $(seq 30); do kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || break; sleep 1; done
    fi
done
