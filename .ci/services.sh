# shellcheck shell=bash
# Real Redis, Redis Cluster and PostgreSQL for the store tests. Source it, don't run it:
#
#   source .ci/services.sh     # installs (if missing) and starts them all, exports their URLs
#   npm test                   # the store tests read REDIS_URL, REDIS_CLUSTER_URLS, DATABASE_URL...
#
# Every server listens on 127.0.0.1 only, on non-default ports (so a system Redis or PostgreSQL on
# 6379/5432 is left alone), keeps its files in one temporary folder, and is stopped by an EXIT
# trap, so they go away even when the tests fail. Redis keeps nothing on disk; PostgreSQL runs
# with fsync off. Throwaway servers, never point this at data you care about.
#
# What is started:
#   - one Redis (REDIS_PORT);
#   - a Redis Cluster of three masters and no replicas (REDIS_CLUSTER_PORT, +1, +2; each node also
#     takes its cluster bus port, 10000 higher), the smallest cluster that spreads the 16384 hash
#     slots over several nodes, so a command that spans two slots fails as it would in production;
#   - PostgreSQL (PG_PORT) with two roles: the superuser `postgres`, for tests that need DDL, and
#     `plain_session_app`, the least-privilege role an application should run as (issue #12): it
#     may connect and use schema public, owns nothing, may create nothing, and has only SELECT,
#     INSERT, UPDATE and DELETE on the session tables that a migration, run by the superuser, made.
#
# The migration: sql/postgres-sessions.sql (PG_SCHEMA_FILE) holds the session table's DDL with the
# placeholder {{table}} for its name. `pg_app_table NAME` replaces every {{table}} with NAME, runs
# the result as the superuser in one transaction (psql, ON_ERROR_STOP), then grants the app role
# SELECT, INSERT, UPDATE, DELETE on table NAME, and nothing else. It runs once at startup for
# PG_APP_TABLE, and tests can call it (as PG_APP_TABLE_CMD) for a fresh table of their own.
#
# Exported for the tests:
#   REDIS_URL, DATABASE_URL                  where the servers are (DATABASE_URL: the superuser)
#   REDIS_CLUSTER_URLS                       the cluster's nodes, comma-separated redis:// URLs
#   DATABASE_URL_APP                         PostgreSQL as the least-privilege role (with password)
#   PG_APP_ROLE, PG_APP_TABLE                that role's name, and the table made for it at startup
#   PG_APP_TABLE_CMD                         `$PG_APP_TABLE_CMD name`: migrate and grant one more table
#                                            (drop it afterwards over DATABASE_URL: the role cannot)
#   REDIS_STOP_CMD, REDIS_START_CMD          executables for outage tests: stop the server at once
#   PG_STOP_CMD, PG_START_CMD                and start it again on the same port. Each returns only
#                                            when the server is down / accepting again (exit 0).
# Functions: stop_services, redis_stop, redis_start, redis_cluster_start, redis_cluster_stop,
# pg_stop, pg_start, pg_app_table.
#
# Can be overridden before sourcing: REDIS_PORT (6390), REDIS_CLUSTER_PORT (7100), PG_PORT (5440),
# PG_BINDIR (the newest installed), PG_APP_TABLE (sessions), PG_SCHEMA_FILE.
# This file does not change the caller's shell options (set -e etc.); it returns non-zero on failure.

# Where this file is, resolved now: `source` can be called from any directory.
SERVICES_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

services_fail() {
  echo "services.sh: $*" >&2
  return 1
}

# --- install what is missing (apt-get update at most once) -------------------------------------

services_install() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
  ((${#missing[@]} == 0)) && return 0
  local sudo=''
  [[ $(id -u) == 0 ]] || sudo='sudo'
  echo "services.sh: installing ${missing[*]}" >&2
  $sudo apt-get update -qq || return 1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    return 1
}

# --- paths and ports ------------------------------------------------------------------------------

services_setup() {
  REDIS_PORT=${REDIS_PORT:-6390}
  REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-7100}
  PG_PORT=${PG_PORT:-5440}
  PG_APP_ROLE=plain_session_app
  PG_APP_TABLE=${PG_APP_TABLE:-sessions}
  PG_SCHEMA_FILE=${PG_SCHEMA_FILE:-$SERVICES_ROOT/sql/postgres-sessions.sql}
  [[ -r $PG_SCHEMA_FILE ]] || { services_fail "cannot read the migration '$PG_SCHEMA_FILE' (set PG_SCHEMA_FILE)"; return 1; }
  if [[ -z ${PG_BINDIR:-} ]]; then
    # The newest installed major version (Debian puts each in /usr/lib/postgresql/N/bin).
    PG_BINDIR=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
  fi
  [[ -x $PG_BINDIR/initdb ]] || { services_fail "no initdb in '$PG_BINDIR'"; return 1; }
  # initdb refuses to run as root; as root we run PostgreSQL as `postgres`, otherwise as ourselves.
  if [[ $(id -u) == 0 ]]; then PG_AS='runuser -u postgres --'; else PG_AS=''; fi
  export REDIS_PORT REDIS_CLUSTER_PORT PG_PORT PG_BINDIR
}

services_folder() {
  SERVICES_DIR=$(mktemp -d /tmp/plain-session-services.XXXXXX) || return 1
  export SERVICES_DIR
  # PostgreSQL runs as `postgres`, which must be able to reach its folder inside ours.
  chmod 755 "$SERVICES_DIR"
  mkdir -p "$SERVICES_DIR/redis" "$SERVICES_DIR/redis-cluster" "$SERVICES_DIR/pg/data" "$SERVICES_DIR/pg/socket" || return 1
  [[ -z $PG_AS ]] || chown -R postgres:postgres "$SERVICES_DIR/pg"
}

# --- Redis ------------------------------------------------------------------------------------------

services_port_free() {
  # bash's /dev/tcp: connecting succeeds only if something already listens there.
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

redis_start() {
  # --save '' and --appendonly no: nothing on disk, so a restart comes back empty, like a real
  # outage of a cache-only Redis. Sessions are meant to be lost then; the tests check the service
  # recovers, not the data.
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
    --dir "$SERVICES_DIR/redis" --pidfile "$SERVICES_DIR/redis/redis.pid" \
    --logfile "$SERVICES_DIR/redis/redis.log" --save '' --appendonly no || return 1
  local i
  for ((i = 0; i < 100; i++)); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  services_fail "redis-server did not answer on port $REDIS_PORT; log: $SERVICES_DIR/redis/redis.log"
}

redis_stop() {
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
  local i
  for ((i = 0; i < 100; i++)); do
    services_port_free "$REDIS_PORT" && return 0
    sleep 0.1
  done
  services_fail "redis-server on port $REDIS_PORT did not stop"
}

# --- Redis Cluster ------------------------------------------------------------------------------------

redis_cluster_ports() {
  echo "$REDIS_CLUSTER_PORT" $((REDIS_CLUSTER_PORT + 1)) $((REDIS_CLUSTER_PORT + 2))
}

redis_cluster_start() {
  # Three masters, no replicas: enough for keys to land on different nodes, which is what a
  # cluster client must handle (MOVED redirections, no command across slots). Like the single
  # Redis, nothing is persisted; nodes.conf, the cluster's own bookkeeping, stays in our folder.
  local port dir nodes=()
  for port in $(redis_cluster_ports); do
    dir="$SERVICES_DIR/redis-cluster/$port"
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
      --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save '' --appendonly no \
      --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 ||
      { services_fail "cluster node on port $port did not start; log: $dir/redis.log"; return 1; }
    nodes+=("127.0.0.1:$port")
  done
  local i
  for port in $(redis_cluster_ports); do
    for ((i = 0; i < 100; i++)); do
      redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    ((i < 100)) || { services_fail "cluster node on port $port did not answer"; return 1; }
  done
  # Assigns the 16384 slots evenly and introduces the nodes to each other.
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
    >"$SERVICES_DIR/redis-cluster/create.log" 2>&1 ||
    { services_fail "redis-cli --cluster create failed; log: $SERVICES_DIR/redis-cluster/create.log"; return 1; }
  # Every node must see every slot served before a client connects: until gossip has spread the
  # assignment, a node answers CLUSTERDOWN.
  for port in $(redis_cluster_ports); do
    for ((i = 0; i < 300; i++)); do
      redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
      sleep 0.1
    done
    ((i < 300)) || { services_fail "cluster node on port $port never reached cluster_state:ok"; return 1; }
  done
}

redis_cluster_stop() {
  local port i failed=0
  for port in $(redis_cluster_ports); do
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1
  done
  for port in $(redis_cluster_ports); do
    for ((i = 0; i < 100; i++)); do
      services_port_free "$port" && break
      sleep 0.1
    done
    ((i < 100)) || { services_fail "cluster node on port $port did not stop"; failed=1; }
  done
  return "$failed"
}

# --- PostgreSQL ---------------------------------------------------------------------------------------

pg_init() {
  # trust auth on loopback only: the server is private to this run.
  $PG_AS "$PG_BINDIR/initdb" -D "$SERVICES_DIR/pg/data" -U postgres -A trust \
    --no-sync -E UTF8 --locale C.UTF-8 >"$SERVICES_DIR/pg/initdb.log" 2>&1 ||
    $PG_AS "$PG_BINDIR/initdb" -D "$SERVICES_DIR/pg/data" -U postgres -A trust \
      --no-sync -E UTF8 --locale C >"$SERVICES_DIR/pg/initdb.log" 2>&1 ||
    { services_fail "initdb failed; log: $SERVICES_DIR/pg/initdb.log"; return 1; }
}

pg_start() {
  # -w waits until the server accepts connections.
  $PG_AS "$PG_BINDIR/pg_ctl" -D "$SERVICES_DIR/pg/data" -l "$SERVICES_DIR/pg/server.log" -w -t 30 \
    -o "-p $PG_PORT -h 127.0.0.1 -k $SERVICES_DIR/pg/socket -c fsync=off -c full_page_writes=off" \
    start >/dev/null ||
    { services_fail "PostgreSQL did not start; log: $SERVICES_DIR/pg/server.log"; return 1; }
}

pg_stop() {
  # fast: roll back open transactions and disconnect clients at once, like a crash seen from Node.
  $PG_AS "$PG_BINDIR/pg_ctl" -D "$SERVICES_DIR/pg/data" -m fast -w stop >/dev/null
}

pg_psql() {
  # As the superuser, over TCP (trust on loopback), stopping at the first error.
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

pg_app_role() {
  # The app role logs in with a password (SCRAM), as it would in production: a pg_hba.conf line
  # for it alone, ahead of initdb's trust lines. The password is new on every run.
  PG_APP_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  local hba="$SERVICES_DIR/pg/data/pg_hba.conf" rest
  rest=$(<"$hba") || return 1
  # Rewritten in place (not replaced) so that the file keeps its owner, `postgres`.
  printf 'host all %s 127.0.0.1/32 scram-sha-256\n%s\n' "$PG_APP_ROLE" "$rest" >"$hba" || return 1
  # Least privilege (OWASP: run with the fewest rights the task needs). Revoking from PUBLIC takes
  # back what every role gets by default: TEMPORARY and CONNECT on the database, and before
  # PostgreSQL 15 also CREATE in schema public.
  pg_psql >/dev/null <<SQL || { services_fail "could not create the role $PG_APP_ROLE"; return 1; }
SELECT pg_reload_conf();
CREATE ROLE $PG_APP_ROLE LOGIN PASSWORD '$PG_APP_PASSWORD'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
GRANT CONNECT ON DATABASE postgres TO $PG_APP_ROLE;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO $PG_APP_ROLE;
SQL
}

pg_app_table() {
  # pg_app_table NAME: the migration for table NAME, run as the superuser (who then owns the table),
  # and the grants the app role needs on it. See the header for how the SQL file is used.
  local table=${1:-}
  [[ $table =~ ^[A-Za-z_][A-Za-z0-9_]{0,47}$ ]] ||
    { services_fail "pg_app_table: '$table' is not a table name (letters, digits, _)"; return 1; }
  local sql
  sql=$(<"$PG_SCHEMA_FILE") || { services_fail "cannot read $PG_SCHEMA_FILE"; return 1; }
  [[ $sql == *'{{table}}'* ]] || { services_fail "$PG_SCHEMA_FILE has no {{table}} placeholder"; return 1; }
  {
    echo "${sql//'{{table}}'/$table}"
    echo "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE \"$table\" TO $PG_APP_ROLE;"
  } | pg_psql --single-transaction -f - ||
    { services_fail "the migration of table $table failed"; return 1; }
}

# --- all together -------------------------------------------------------------------------------------

stop_services() {
  [[ -n ${SERVICES_DIR:-} && -d $SERVICES_DIR ]] || return 0
  redis_stop 2>/dev/null
  redis_cluster_stop 2>/dev/null
  [[ -f $SERVICES_DIR/pg/data/postmaster.pid ]] && pg_stop 2>/dev/null
  rm -rf "$SERVICES_DIR"
  unset SERVICES_DIR
  return 0
}

start_services() {
  services_install || { services_fail 'could not install redis-server/postgresql'; return 1; }
  services_setup || return 1
  services_port_free "$REDIS_PORT" || { services_fail "port $REDIS_PORT is taken (set REDIS_PORT)"; return 1; }
  local port
  for port in $(redis_cluster_ports); do
    services_port_free "$port" && services_port_free $((port + 10000)) ||
      { services_fail "port $port or its cluster bus port $((port + 10000)) is taken (set REDIS_CLUSTER_PORT)"; return 1; }
  done
  services_port_free "$PG_PORT" || { services_fail "port $PG_PORT is taken (set PG_PORT)"; return 1; }

  # Stop them all on exit, keeping whatever EXIT trap the caller already has.
  local previous
  previous=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT\$/\1/")
  # shellcheck disable=SC2064 # expand now: the previous trap's text is fixed at this point
  trap "stop_services${previous:+; $previous}" EXIT

  services_folder || return 1
  redis_start || return 1
  redis_cluster_start || return 1
  pg_init && pg_start || return 1
  pg_app_role && pg_app_table "$PG_APP_TABLE" || return 1

  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  REDIS_CLUSTER_URLS=$(for port in $(redis_cluster_ports); do printf 'redis://127.0.0.1:%s,' "$port"; done)
  export REDIS_CLUSTER_URLS=${REDIS_CLUSTER_URLS%,}
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  export DATABASE_URL_APP="postgres://$PG_APP_ROLE:$PG_APP_PASSWORD@127.0.0.1:$PG_PORT/postgres"
  export PG_APP_ROLE PG_APP_TABLE
  # For outage tests: child processes cannot call shell functions, so each step is also a small
  # script in the temporary folder, built from the functions above. Run them with execFileSync.
  local step
  for step in redis_stop redis_start pg_stop pg_start 'pg_app_table "$@"'; do
    {
      echo '#!/usr/bin/env bash'
      declare -p REDIS_PORT PG_PORT PG_BINDIR PG_AS SERVICES_DIR PG_APP_ROLE PG_SCHEMA_FILE
      declare -f services_fail services_port_free redis_start redis_stop pg_start pg_stop pg_psql pg_app_table
      echo "$step"
    } >"$SERVICES_DIR/${step%% *}"
    chmod 755 "$SERVICES_DIR/${step%% *}"
  done
  export REDIS_STOP_CMD="$SERVICES_DIR/redis_stop" REDIS_START_CMD="$SERVICES_DIR/redis_start"
  export PG_STOP_CMD="$SERVICES_DIR/pg_stop" PG_START_CMD="$SERVICES_DIR/pg_start"
  export PG_APP_TABLE_CMD="$SERVICES_DIR/pg_app_table"
  echo "services.sh: Redis $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/') at $REDIS_URL," \
    "Redis Cluster at $REDIS_CLUSTER_URLS," \
    "PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}') at $DATABASE_URL" \
    "(app role $PG_APP_ROLE, table $PG_APP_TABLE)" >&2
}

start_services
