#!/usr/bin/env bash
# Start a Docker engine for the container tests (test/container/), if none answers yet.
#
# CI runs as root on a machine without systemd and without overlayfs inside its own container, so
# dockerd runs in the background with the vfs storage driver (slow, copies every layer, but works
# everywhere) and its own log file. Idempotent: an engine that already answers `docker info` is
# left alone. Bounded: gives up after DOCKERD_WAIT seconds (default 60) and prints the log's tail.
#
# Exit status: 0 when `docker info` answers; 1 otherwise (the container tests then skip, saying why).
set -uo pipefail

LOG=${DOCKERD_LOG:-/var/log/scopegate-dockerd.log}
WAIT=${DOCKERD_WAIT:-60}

if docker info >/dev/null 2>&1; then
  echo "ci-docker: a Docker engine already answers"
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "ci-docker: dockerd is not installed (apt-get install docker.io); the container tests will skip" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "ci-docker: dockerd needs root here (running as uid $(id -u)); the container tests will skip" >&2
  exit 1
fi

# a dockerd left by an earlier run that no longer answers: report it rather than start a second
# one on the same socket (its pid file says which process it is; this script does not guess)
if [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  echo "ci-docker: dockerd (pid $(cat /var/run/docker.pid)) is running but does not answer; waiting for it"
else
  mkdir -p "$(dirname "$LOG")"
  echo "ci-docker: starting dockerd --storage-driver=vfs (log: $LOG)"
  # setsid + nohup: the engine outlives this script and the shell that ran it
  setsid nohup dockerd --storage-driver=vfs >>"$LOG" 2>&1 </dev/null &
  echo "ci-docker: dockerd pid $!"
fi

for _ in $(seq 1 "$WAIT"); do
  if docker info >/dev/null 2>&1; then
    echo "ci-docker: Docker engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null), storage driver $(docker info --format '{{.Driver}}' 2>/dev/null))"
    exit 0
  fi
  sleep 1
done
echo "ci-docker: no answer from dockerd after ${WAIT}s; the last lines of $LOG:" >&2
tail -n 30 "$LOG" >&2 || true
exit 1
