#!/usr/bin/env bash
# dtag behind Debian's nginx (issue 25), with deploy/nginx/dtag.conf as shipped (only its
# ports changed): `dtag serve --trusted-proxy 127.0.0.1/32 --max-connections-per-client 4
# --learn --learn-tokens FILE` behind it. scripts/proxy_check.py then sends 8 stalled uploads
# with X-Forwarded-For 203.0.113.7 (4 held, 4 answered 429), a suggestion from 198.51.100.9
# (200), the stalled client's next request (429), and learn requests without, with a wrong
# and with the right token (401, 401, 204). Also checks that dtag's log names the refused
# client and never the token. Installs nginx when missing; stops what it started by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if ! command -v nginx >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq nginx-light >/dev/null
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dtag-proxy.XXXXXX")
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ $status != 0 ]]; then
    for log in "$WORK"/*.err "$WORK"/nginx-error.log; do
      [[ -f $log ]] && { echo "--- $log" >&2; tail -n 40 "$log" >&2; }
    done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet
DTAG=$TARGET_DIR/release/dtag
"$DTAG" --quiet train --corpus data/train.txt --model "$WORK/demo.dtag" 2>"$WORK/train.err"
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '# indexers\nalice %s\n' "$TOKEN" >"$WORK/tokens"
chmod 0600 "$WORK/tokens"

"$DTAG" serve --model "demo=$WORK/demo.dtag" --bind 127.0.0.1:0 \
  --trusted-proxy 127.0.0.1/32 --max-connections-per-client 4 --body-timeout 60 \
  --learn --learn-tokens "$WORK/tokens" >"$WORK/serve.out" 2>"$WORK/serve.err" &
PIDS+=($!)
DTAG_ADDRESS=
for _ in $(seq 300); do
  DTAG_ADDRESS=$(sed -n 's|^listening on http://||p' "$WORK/serve.out")
  [[ -n $DTAG_ADDRESS ]] && break
  sleep 0.1
done
[[ -n $DTAG_ADDRESS ]] || { echo "dtag serve did not start" >&2; exit 1; }

NGINX_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/nginx-temp"
sed -e "s|server 127.0.0.1:5000;|server $DTAG_ADDRESS;|" \
    -e "s|listen 80;|listen 127.0.0.1:$NGINX_PORT;|" deploy/nginx/dtag.conf >"$WORK/dtag.conf"
grep -q "server $DTAG_ADDRESS;" "$WORK/dtag.conf" && grep -q "listen 127.0.0.1:$NGINX_PORT;" "$WORK/dtag.conf" \
  || { echo "deploy/nginx/dtag.conf no longer has the lines this test replaces" >&2; exit 1; }
cat >"$WORK/nginx.conf" <<CONF
# The test's own frame around deploy/nginx/dtag.conf: everything in the scratch directory.
user root;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log info;
events { worker_connections 256; }
http {
    access_log $WORK/nginx-access.log;
    client_body_temp_path $WORK/nginx-temp/body;
    proxy_temp_path $WORK/nginx-temp/proxy;
    fastcgi_temp_path $WORK/nginx-temp/fastcgi;
    uwsgi_temp_path $WORK/nginx-temp/uwsgi;
    scgi_temp_path $WORK/nginx-temp/scgi;
    include $WORK/dtag.conf;
}
CONF
nginx -t -c "$WORK/nginx.conf" -p "$WORK" 2>"$WORK/nginx-t.err" || { cat "$WORK/nginx-t.err" >&2; exit 1; }
nginx -c "$WORK/nginx.conf" -p "$WORK" -g 'daemon off;' 2>"$WORK/nginx.err" &
PIDS+=($!)
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $NGINX_PORT), timeout=1)" 2>/dev/null && break
  sleep 0.1
done
echo "nginx on 127.0.0.1:$NGINX_PORT in front of dtag on $DTAG_ADDRESS"

python3 scripts/proxy_check.py "$NGINX_PORT" demo data/drafts/draft_01.txt "$TOKEN"

# The log names the refused client (not nginx) and the indexer, never the token.
kill -TERM "${PIDS[0]}"
for _ in $(seq 100); do kill -0 "${PIDS[0]}" 2>/dev/null || break; sleep 0.1; done
cat "$WORK/serve.err"
grep -q "client 203.0.113.7 (forwarded by 127.0.0.1) refused at --max-connections-per-client" "$WORK/serve.err" \
  || { echo "the log does not name the refused forwarded client" >&2; exit 1; }
grep -q "taught by indexer alice" "$WORK/serve.err" \
  || { echo "the log does not name the indexer" >&2; exit 1; }
if grep -q "$TOKEN" "$WORK/serve.err" "$WORK/serve.out" "$WORK/nginx-error.log"; then
  echo "a token was written to a log" >&2
  exit 1
fi
# The systemd unit of docs/deploy.md, with this build's binary: systemd's own check.
if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/local/bin/dtag|$DTAG|" deploy/systemd/dtag.service >"$WORK/dtag.service"
  systemd-analyze verify "$WORK/dtag.service"
  echo "deploy/systemd/dtag.service: systemd-analyze verify passed"
else
  echo "systemd-analyze not installed: deploy/systemd/dtag.service not verified"
fi
echo "dtag behind nginx: per-client limits by forwarded address, and only indexers teach"
