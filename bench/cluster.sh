#!/bin/bash
# Three nodes vs one on a throwaway PostgreSQL (fsync on) + moto, on this machine (run as root).
# Build first: cargo build --release -p server -p versa-bench --bins ; BIN defaults to target/release.
set -e
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
D=$(mktemp -d /tmp/proof-pg.XXXXXX); chown postgres:postgres "$D"
runuser -u postgres -- "$PGBIN/initdb" -D "$D/data" -U versa --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$D/data" -l "$D/log" -w -o "-k $D -c listen_addresses='' -c max_connections=200" start >/dev/null
moto_server -H 127.0.0.1 -p 5055 >/dev/null 2>&1 & MOTO=$!
sleep 1.5
export AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x
python3 -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:5055', region_name='us-east-1').create_bucket(Bucket='versa-bench')"
run() { # $1 db, then ports
  db=$1; shift
  psql -h "$D" -U versa -d postgres -qc "CREATE DATABASE $db"
  PIDS=(); URLS=()
  for p in "$@"; do
    mkdir -p $D/n$db$p
    $BIN/versa server --listen 127.0.0.1:$p --data-dir $D/n$db$p --log-level error --store "postgres://versa@/$db?host=$D" \
      --blobs "s3://versa-bench/$db?endpoint=http://127.0.0.1:5055&region=us-east-1&path_style=true" --node-id n$p >/dev/null & PIDS+=($!)
    URLS+=(http://127.0.0.1:$p)
  done
  sleep 4
  IFS=,; $BIN/versa-bench --endpoints "${URLS[*]}" --clients 12 --seconds 5; unset IFS
  kill ${PIDS[@]}; wait ${PIDS[@]} 2>/dev/null || true
}
run one 4601
run three 4611 4612 4613
kill $MOTO
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$D/data" -m immediate stop >/dev/null; rm -rf "$D"
