#!/usr/bin/env bash
# Stop the one-node SLURM cluster started by tests/slurm/start.sh (issue 23).
# Idempotent: stopping what is not running is fine; always exits 0.
# Running jobs' step daemons (slurmstepd) are stopped as well, so a later
# start.sh begins without orphans. Saved controller state (queued jobs) stays
# in /var/spool/slurmctld.
set -uo pipefail

stop() { # stop <exact process name>: TERM, wait up to 10 s, then KILL.
  pkill -x "$1" 2>/dev/null || return 0
  for _ in $(seq 20); do pgrep -x "$1" >/dev/null || return 0; sleep 0.5; done
  pkill -9 -x "$1" 2>/dev/null || true
}
stop slurmd
stop slurmstepd
stop slurmctld
stop munged
exit 0
