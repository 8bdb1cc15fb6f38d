#!/usr/bin/env bash
# Drops the databases earlier test runs created (named test_<uuid>), so they
# do not pile up on a long-lived local stack.
set -euo pipefail
cd "$(dirname "$0")/.."
source .local/env
psql "$DATABASE_URL" -qAt -c "select 'drop database if exists ' || quote_ident(datname) || ';' from pg_database where datname like 'test\_%'" \
  | psql "$DATABASE_URL" -q >/dev/null
