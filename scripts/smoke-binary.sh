#!/usr/bin/env bash
# Smoke test of the compiled binary (M1-1): copied alone into an empty temp dir it starts on a free
# port, creates its DB (0700 dir, 0600 file), answers /health and /swagger/json, exits 0 on SIGTERM within 10 s,
# and reads `.env` from its working directory.
#   scripts/smoke-binary.sh [BINARY]   (default dist/openclaw-relay; e.g. a release's linux-x64 binary)
set -euo pipefail
bin="${1:-$(cd "$(dirname "$0")/.." && pwd)/dist/openclaw-relay}"
[ -x "$bin" ] || { echo "no executable at $bin"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$bin" "$dir/openclaw-relay"
cd "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
HOST=127.0.0.1 PORT=$port LOG_LEVEL=warn ./openclaw-relay serve > relay.log 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
  sleep 0.05
done
curl -sf "http://127.0.0.1:$port/health" | grep -q '"status":"ok"'
curl -sf "http://127.0.0.1:$port/swagger/json" | grep -q '"/api/feishu/webhook"'
# The API docs' UI comes from inside the binary, not from a CDN.
# (to a file: grep -q quitting early would fail curl with SIGPIPE under pipefail)
curl -sf "http://127.0.0.1:$port/swagger/assets/swagger-ui-bundle.js" -o swagger-ui.js
grep -q 'SwaggerUIBundle' swagger-ui.js
[ -f data/relay.db ]
# relay.db holds JWT_SECRET: a private directory and file, whatever the umask.
[ "$(stat -c %a data)" = 700 ] || { echo "data/ is $(stat -c %a data), want 700"; exit 1; }
[ "$(stat -c %a data/relay.db)" = 600 ] || { echo "data/relay.db is $(stat -c %a data/relay.db), want 600"; exit 1; }
start=$(date +%s)
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
elapsed=$(( $(date +%s) - start ))
[ "$code" -eq 0 ] || { echo "binary exited $code on SIGTERM"; cat relay.log; exit 1; }
[ "$elapsed" -le 10 ] || { echo "binary took ${elapsed}s to stop"; exit 1; }
# `.env` in the working directory is read by the binary itself (Bun's loader; we have no other).
printf 'PORT=not-a-port\n' > .env
dotenv_code=0
env -i PATH="$PATH" ./openclaw-relay check-config > dotenv.log 2>&1 || dotenv_code=$?
[ "$dotenv_code" -eq 2 ] && grep -q 'PORT' dotenv.log || { echo ".env was not read"; cat dotenv.log; exit 1; }
rm -f .env
# Cluster mode from the binary alone: its embedded PostgreSQL migrations, the node in /health.
cluster=skipped
if [ -n "${TEST_POSTGRES_URL:-}" ] && command -v psql > /dev/null; then
  db="relay_smoke_$$"
  psql "$TEST_POSTGRES_URL" -qc "CREATE DATABASE $db" > /dev/null
  url="${TEST_POSTGRES_URL%/*}/$db"
  DATABASE_URL="$url" NODE_ID=smoke-1 HOST=127.0.0.1 PORT=$port LOG_LEVEL=warn ./openclaw-relay serve > cluster.log 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
    sleep 0.05
  done
  health=$(curl -sf "http://127.0.0.1:$port/health" || true)
  kill -TERM "$pid"
  code=0
  wait "$pid" || code=$?
  psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE $db WITH (FORCE)" > /dev/null
  grep -q '"node":"smoke-1"' <<< "$health" && grep -q '"db":"ok"' <<< "$health" ||
    { echo "cluster mode: /health was: $health"; cat cluster.log; exit 1; }
  [ "$code" -eq 0 ] || { echo "cluster-mode binary exited $code on SIGTERM"; cat cluster.log; exit 1; }
  cluster=ok
fi
echo "binary smoke test ok: /health, /swagger/json, data/relay.db, SIGTERM → exit 0 in ${elapsed}s, .env read, cluster mode $cluster"
