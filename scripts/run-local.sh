#!/usr/bin/env bash
# Runs the archiver end to end on this machine: installs the pinned Azurite (into ./node_modules),
# builds the handler, starts Azurite and the handler on free loopback ports, sends every sample event
# in tests/fixtures/events the way the Functions host would, and prints where each one landed.
#
#   scripts/run-local.sh          run, print, stop
#   scripts/run-local.sh --serve  ...then keep both running until Ctrl-C (send more with `handler send`)
set -euo pipefail
cd "$(dirname "$0")/.."

serve=false
[[ "${1:-}" == "--serve" ]] && serve=true

if [[ "$(node -p "try{require('./node_modules/azurite/package.json').version}catch(e){''}" 2>/dev/null)" != "3.37.0" ]]; then
  echo "==> installing Azurite 3.37.0 into ./node_modules"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "==> building the handler (release)"
cargo build --release --quiet

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
wait_for_port() {
  for _ in $(seq 1 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

data=".azurite"
rm -rf "$data" && mkdir -p "$data"
azurite_port=$(free_port)
handler_port=$(free_port)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "==> starting Azurite on 127.0.0.1:$azurite_port (data in $data/)"
node node_modules/azurite/dist/src/blob/main.js --blobHost 127.0.0.1 --blobPort "$azurite_port" \
  --location "$data" --silent --skipApiVersionCheck --disableTelemetry &
pids+=($!)
wait_for_port "$azurite_port"

account=devstoreaccount1
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
export ARCHIVE_STORAGE="DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$azurite_port/$account"
export FUNCTIONS_CUSTOMHANDLER_PORT="$handler_port"

echo "==> starting the handler on 127.0.0.1:$handler_port (its log: $data/handler.log)"
target/release/handler >"$data/handler.log" &
pids+=($!)
wait_for_port "$handler_port"

echo "==> sending every sample event"
status=0
target/release/handler send tests/fixtures/events/*.json* --url "http://127.0.0.1:$handler_port" | tee "$data/send.log" || status=$?

echo
echo "==> $(grep -c '^    archived' "$data/send.log") archived, $(grep -c '^    duplicate' "$data/send.log") duplicates" \
  "(samples copied word for word between pages), of which $(grep -c 'quarantined input' "$data/send.log") quarantined"
echo "    Blob endpoint: http://127.0.0.1:$azurite_port/$account (account key: Azurite's well-known key)"

if $serve; then
  echo "==> serving; send more with: FUNCTIONS_CUSTOMHANDLER_PORT=$handler_port target/release/handler send FILE..."
  echo "    Ctrl-C to stop"
  wait
fi
exit "$status"
