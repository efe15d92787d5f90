# shellcheck shell=bash
# Real Redis and PostgreSQL for the store tests. Source it, don't run it:
#
#   source .ci/services.sh     # installs (if missing) and starts both, exports their URLs
#   npm test                   # the store tests read REDIS_URL and DATABASE_URL
#
# Both servers listen on 127.0.0.1 only, on non-default ports (so a system Redis or PostgreSQL on
# 6379/5432 is left alone), keep their files in one temporary folder, and are stopped by an EXIT
# trap, so they go away even when the tests fail. Redis keeps nothing on disk; PostgreSQL runs
# with fsync off. Throwaway servers, never point this at data you care about.
#
# Exported for the tests:
#   REDIS_URL, DATABASE_URL                  where the servers are
#   REDIS_STOP_CMD, REDIS_START_CMD          executables for outage tests: stop the server at once
#   PG_STOP_CMD, PG_START_CMD                and start it again on the same port. Each returns only
#                                            when the server is down / accepting again (exit 0).
# Functions: stop_services, redis_stop, redis_start, pg_stop, pg_start.
#
# Ports and the PostgreSQL version can be overridden: REDIS_PORT, PG_PORT, PG_BINDIR.
# This file does not change the caller's shell options (set -e etc.); it returns non-zero on failure.

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
  PG_PORT=${PG_PORT:-5440}
  if [[ -z ${PG_BINDIR:-} ]]; then
    # The newest installed major version (Debian puts each in /usr/lib/postgresql/N/bin).
    PG_BINDIR=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
  fi
  [[ -x $PG_BINDIR/initdb ]] || { services_fail "no initdb in '$PG_BINDIR'"; return 1; }
  SERVICES_DIR=$(mktemp -d /tmp/plain-session-services.XXXXXX) || return 1
  # PostgreSQL runs as `postgres`, which must be able to reach its folder inside ours.
  chmod 755 "$SERVICES_DIR"
  mkdir -p "$SERVICES_DIR/redis" "$SERVICES_DIR/pg/data" "$SERVICES_DIR/pg/socket"
  # initdb refuses to run as root; as root we run PostgreSQL as `postgres`, otherwise as ourselves.
  if [[ $(id -u) == 0 ]]; then
    chown -R postgres:postgres "$SERVICES_DIR/pg"
    PG_AS='runuser -u postgres --'
  else
    PG_AS=''
  fi
  export REDIS_PORT PG_PORT PG_BINDIR SERVICES_DIR
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

# --- all together -------------------------------------------------------------------------------------

stop_services() {
  [[ -n ${SERVICES_DIR:-} && -d $SERVICES_DIR ]] || return 0
  redis_stop 2>/dev/null
  [[ -f $SERVICES_DIR/pg/data/postmaster.pid ]] && pg_stop 2>/dev/null
  rm -rf "$SERVICES_DIR"
  unset SERVICES_DIR
  return 0
}

start_services() {
  services_install || { services_fail 'could not install redis-server/postgresql'; return 1; }
  services_setup || return 1
  services_port_free "$REDIS_PORT" || { services_fail "port $REDIS_PORT is taken (set REDIS_PORT)"; return 1; }
  services_port_free "$PG_PORT" || { services_fail "port $PG_PORT is taken (set PG_PORT)"; return 1; }

  # Stop both on exit, keeping whatever EXIT trap the caller already has.
  local previous
  previous=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT\$/\1/")
  # shellcheck disable=SC2064 # expand now: the previous trap's text is fixed at this point
  trap "stop_services${previous:+; $previous}" EXIT

  redis_start || return 1
  pg_init && pg_start || return 1

  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  # For outage tests: child processes cannot call shell functions, so each step is also a small
  # script in the temporary folder, built from the functions above. Run them with execFileSync.
  local step
  for step in redis_stop redis_start pg_stop pg_start; do
    {
      echo '#!/usr/bin/env bash'
      declare -p REDIS_PORT PG_PORT PG_BINDIR PG_AS SERVICES_DIR
      declare -f services_fail services_port_free redis_start redis_stop pg_start pg_stop
      echo "$step"
    } >"$SERVICES_DIR/$step"
    chmod 755 "$SERVICES_DIR/$step"
  done
  export REDIS_STOP_CMD="$SERVICES_DIR/redis_stop" REDIS_START_CMD="$SERVICES_DIR/redis_start"
  export PG_STOP_CMD="$SERVICES_DIR/pg_stop" PG_START_CMD="$SERVICES_DIR/pg_start"
  echo "services.sh: Redis $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/') at $REDIS_URL," \
    "PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}') at $DATABASE_URL" >&2
}

start_services
