#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the test suite and print its DSN.
#
#   eval "$(scripts/deps/postgres.sh)"   # exports PEEKR_TEST_POSTGRES_DSN
#   scripts/deps/postgres.sh --stop      # stop the cluster started before
#
# Reuses a running server if PEEKR_TEST_POSTGRES_DSN already answers. Otherwise installs
# Debian's postgresql package when no initdb is found (needs root and the Debian mirror),
# creates a cluster in a temp directory owned by an unprivileged user (postgres when run as
# root, since PostgreSQL refuses to run as root), listening on 127.0.0.1 on a free port with
# trust auth, and prints `export PEEKR_TEST_POSTGRES_DSN=...` and PEEKR_TEST_POSTGRES_STARTED=1
# when it started the cluster (0 when it reused one). Human-readable progress goes to stderr, so
# stdout is safe to eval. Exit status 1 if PostgreSQL cannot be started. with-postgres.sh runs a
# command with it and stops the cluster afterwards if it started it.
set -euo pipefail

STATE_DIR="${PEEKR_PG_STATE_DIR:-${TMPDIR:-/tmp}/peekr-test-postgres}"
log() { echo "postgres.sh: $*" >&2; }

find_bin() {
  local name="$1"
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$found" ] && echo "$found"
}

as_owner() {
  if [ "$(id -u)" = "0" ]; then
    su -s /bin/sh postgres -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

if [ "${1:-}" = "--stop" ]; then
  if [ -f "$STATE_DIR/data/postmaster.pid" ]; then
    as_owner "$(find_bin pg_ctl)" -D "$STATE_DIR/data" -m immediate stop >&2 || true
  fi
  exit 0
fi

if [ -n "${PEEKR_TEST_POSTGRES_DSN:-}" ] && command -v psql >/dev/null 2>&1 \
   && psql "$PEEKR_TEST_POSTGRES_DSN" -Atc 'select 1' >/dev/null 2>&1; then
  log "reusing the server at PEEKR_TEST_POSTGRES_DSN"
  echo "export PEEKR_TEST_POSTGRES_DSN='$PEEKR_TEST_POSTGRES_DSN' PEEKR_TEST_POSTGRES_STARTED=0"
  exit 0
fi

# A cluster this script started earlier and that is still running?
if [ -f "$STATE_DIR/dsn" ] && [ -f "$STATE_DIR/data/postmaster.pid" ]; then
  dsn=$(cat "$STATE_DIR/dsn")
  if "$(find_bin pg_isready)" -d "$dsn" >/dev/null 2>&1; then
    log "reusing the cluster in $STATE_DIR"
    echo "export PEEKR_TEST_POSTGRES_DSN='$dsn' PEEKR_TEST_POSTGRES_STARTED=0"
    exit 0
  fi
fi

if [ -z "$(find_bin initdb || true)" ]; then
  if [ "$(id -u)" != "0" ]; then
    log "PostgreSQL is not installed and installing needs root: apt-get install postgresql"
    exit 1
  fi
  log "installing Debian's postgresql package"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
fi
INITDB=$(find_bin initdb); PG_CTL=$(find_bin pg_ctl)

if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -rf "$STATE_DIR"
mkdir -p "$STATE_DIR"
[ "$(id -u)" = "0" ] && chown postgres "$STATE_DIR"
as_owner "$INITDB" -D "$STATE_DIR/data" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null
as_owner "$PG_CTL" -D "$STATE_DIR/data" -l "$STATE_DIR/log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$STATE_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >&2
dsn="postgresql://postgres@127.0.0.1:$port/postgres"
echo "$dsn" > "$STATE_DIR/dsn"
log "PostgreSQL running at $dsn (data in $STATE_DIR; stop with: $0 --stop)"
echo "export PEEKR_TEST_POSTGRES_DSN='$dsn' PEEKR_TEST_POSTGRES_STARTED=1"
