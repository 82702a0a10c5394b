#!/usr/bin/env bash
# PostgreSQL for the review store tests: installs Debian's postgresql when missing, starts the cluster, creates a
# test role and database, and prints the URL the tests read:
#
#   eval "$(.ci/postgres.sh)"      # exports RADGENOME_TEST_PG_URL and RADGENOME_REQUIRE_PG=1
#
# With RADGENOME_REQUIRE_PG=1 the PostgreSQL test cases fail instead of skipping when the URL is missing.
# Only the `export ...` lines go to stdout; progress goes to stderr. Safe to run again (idempotent).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
ROLE=${RADGENOME_TEST_PG_ROLE:-radgenome_test}
DB=${RADGENOME_TEST_PG_DB:-radgenome_test}
PASSWORD=${RADGENOME_TEST_PG_PASSWORD:-radgenome_test}

log() { echo "postgres.sh: $*" >&2; }

if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  log "installing Debian's postgresql"
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi

# the first cluster Debian knows (pg_createcluster made one at install time); create it if there is none
if ! pg_lsclusters -h | grep -q .; then
  version=$(basename "$(ls -d /usr/lib/postgresql/*/ | sort -V | tail -n 1)")
  log "creating cluster $version/main"
  pg_createcluster "$version" main >&2
fi
read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1)
if [ "$status" != "online" ]; then
  log "starting cluster $version/$cluster on port $port"
  pg_ctlcluster "$version" "$cluster" start >&2
fi
for _ in $(seq 1 60); do
  if runuser -u postgres -- pg_isready -q -p "$port"; then break; fi
  sleep 0.5
done
runuser -u postgres -- pg_isready -q -p "$port" || { log "cluster $version/$cluster did not become ready"; exit 1; }

psql_admin() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q -p "$port" "$@" >&2; }
psql_admin -c "DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
  ELSE
    ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
  END IF;
END\$\$;"
if ! runuser -u postgres -- psql -p "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
  psql_admin -c "CREATE DATABASE $DB OWNER $ROLE"
fi
log "ready: database $DB on 127.0.0.1:$port (role $ROLE)"
echo "export RADGENOME_TEST_PG_URL=postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$port/$DB"
echo "export RADGENOME_REQUIRE_PG=1"
