#!/usr/bin/env bash
# Run a command with a PostgreSQL for the tests, then stop that PostgreSQL if this run started it.
#
#   scripts/deps/with-postgres.sh .venv/bin/python -m pytest ...
#
# postgres.sh reuses a running server (left running) or starts a throwaway cluster (stopped here
# once the command ends, even on Ctrl-C). Nothing is printed after the command, so its last line
# (pytest's summary) stays the last line; the exit status is the command's.
set -uo pipefail
here=$(dirname "$0")

setup=$(bash "$here/postgres.sh") || exit 1
eval "$setup"

trap 'interrupted=1' INT TERM
interrupted=0
"$@"
status=$?
if [ "${PEEKR_TEST_POSTGRES_STARTED:-0}" = 1 ]; then
  bash "$here/postgres.sh" --stop >/dev/null 2>&1 || true
fi
[ "$interrupted" = 1 ] && [ "$status" = 0 ] && status=130
exit "$status"
