#!/usr/bin/env bash
# Runs the archiver end to end on this machine: installs the pinned Azurite (into ./node_modules),
# builds the handler, starts Azurite and the handler on free loopback ports, sends every sample event
# in tests/fixtures/events the way the Functions host would, and prints where each one landed.
#
#   scripts/run-local.sh          run, print, stop
#   scripts/run-local.sh --serve  ...then keep both running until Ctrl-C (send more with `handler send`)
#
# Everything it writes goes to $CARGO_TARGET_DIR/run-local/ (target/run-local/ by default), emptied on
# every run. It never touches .azurite/, where the `func start` recipe in README.md keeps your own data.
set -euo pipefail
cd "$(dirname "$0")/.."

serve=false
[[ "${1:-}" == "--serve" ]] && serve=true

if [[ "$(node -p "try{require('./node_modules/azurite/package.json').version}catch(e){''}" 2>/dev/null)" != "3.37.0" ]]; then
  echo "==> installing Azurite 3.37.0 into ./node_modules"
  npm ci --no-audit --no-fund --loglevel=error
fi

target_dir="${CARGO_TARGET_DIR:-target}"
handler="$target_dir/release/handler"
# Cargo decides whether to rebuild; this only guesses, to warn before a long silent wait.
if [[ ! -x "$handler" ]]; then
  echo "==> building the handler (release): the first build takes several minutes (5 to 7 on 2 cores)"
elif [[ -n "$(find src Cargo.toml Cargo.lock -newer "$handler" -print -quit)" ]]; then
  echo "==> rebuilding the handler (release): the sources changed, this can take a few minutes"
else
  echo "==> building the handler (release)"
fi
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

data="$target_dir/run-local"
rm -rf "$data" && mkdir -p "$data/azurite"
azurite_port=$(free_port)
handler_port=$(free_port)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "==> starting Azurite on 127.0.0.1:$azurite_port (data in $data/azurite/)"
node node_modules/azurite/dist/src/blob/main.js --blobHost 127.0.0.1 --blobPort "$azurite_port" \
  --location "$data/azurite" --silent --skipApiVersionCheck --disableTelemetry &
pids+=($!)
wait_for_port "$azurite_port"

account=devstoreaccount1
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
endpoint="http://127.0.0.1:$azurite_port/$account"
export ARCHIVE_STORAGE="DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=$endpoint"
export FUNCTIONS_CUSTOMHANDLER_PORT="$handler_port"

echo "==> starting the handler on 127.0.0.1:$handler_port (its log: $data/handler.log)"
"$handler" >"$data/handler.log" &
pids+=($!)
wait_for_port "$handler_port"

echo "==> sending every sample event"
status=0
"$handler" send tests/fixtures/events/*.json* --url "http://127.0.0.1:$handler_port" | tee "$data/send.log" || status=$?

# One outcome line per event; the three counts partition the events that got an answer.
count() { grep -c "$1" "$data/send.log" || true; }
quarantined=$(count '^    archived quarantined input')
archived=$(( $(count '^    archived') - quarantined ))
redeliveries=$(count '^    duplicate')
failed=$(grep -E '^tests/fixtures/events/.* #[0-9]+ -> [A-Za-z]+: ' "$data/send.log" | grep -vc ': 2[0-9][0-9] ' || true)
total=$((archived + quarantined + redeliveries))
echo
echo "==> $total sample events: $archived archived, $quarantined quarantined, $redeliveries recognised as redeliveries" \
  "(samples copied word for word between pages)"
if ((failed > 0)); then
  echo "    $failed invocations were not answered with success: see above and $data/handler.log"
fi

echo "==> newest blobs per container (the last 5 this run wrote, newest first)"
written=$(grep '^    archived' "$data/send.log" | sed -E 's/.* -> ([a-z0-9-]+)\/([^ ]+).*/\1 \2/' || true)
for c in $(cut -d' ' -f1 <<<"$written" | sort -u); do
  names=$(awk -v c="$c" '$1 == c { print $2 }' <<<"$written")
  echo "    $c ($(wc -l <<<"$names") written)"
  tail -n 5 <<<"$names" | tac | sed 's/^/      /'
done
echo "    Blob endpoint: $endpoint (account key: Azurite's well-known key)"

# A report needs more than the samples (whose dates span 2020 to 2026): a seeded day of traffic for
# yesterday, whose hours are closed, so the report compacts them and reads the Parquet.
day=$(date -u -d yesterday +%F)
today=$(date -u +%F)
echo "==> sending a generated day of traffic for $day (handler generate; log: $data/traffic.log)"
"$handler" generate --date "$day" --out "$data/traffic.json"
"$handler" send "$data/traffic.json" --url "http://127.0.0.1:$handler_port" >"$data/traffic.log" || status=$?
echo "    $(grep -c '^    archived' "$data/traffic.log" || true) archived, $(grep -c '^    duplicate' "$data/traffic.log" || true) recognised as redeliveries"
echo "==> reporting on $day (handler report)"
"$handler" report --from "$day" --to "$today" --out "$data/report.html" --json "$data/summary.json" | tail -n 3 | sed 's/^/    /' || status=$?
echo "==> the report: $data/report.html (figures as JSON: $data/summary.json)"

if $serve; then
  # A read-and-list account SAS, signed like the handler's own (service version 2022-11-02).
  sas=$(node -e '
    const [account, key] = process.argv.slice(1);
    const expiry = new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, "Z");
    const sign = [account, "rl", "b", "sco", "", expiry, "", "http", "2022-11-02", "", ""].join("\n");
    const sig = require("crypto").createHmac("sha256", Buffer.from(key, "base64")).update(sign).digest("base64");
    console.log(new URLSearchParams({sv: "2022-11-02", ss: "b", srt: "sco", sp: "rl", se: expiry, spr: "http", sig}).toString());
  ' "$account" "$key")
  echo "==> serving; to see what landed, paste into another shell (read-only SAS, valid 7 days):"
  echo "    sas='$sas'"
  echo "    for c in acs-sms acs-chat acs-advanced-messaging acs-other acs-quarantine; do echo \"== \$c\";" \
    "curl -s \"$endpoint/\$c?restype=container&comp=list&\$sas\" | grep -o '<Name>[^<]*' | cut -c7-; done"
  echo "    curl -s \"$endpoint/acs-sms/BLOB-NAME?\$sas\"    # one blob"
  echo "    # or, with the Azure CLI:"
  echo "    az storage blob list --connection-string '$ARCHIVE_STORAGE' --container-name acs-sms --query '[].name' -o tsv"
  echo "==> send more with: FUNCTIONS_CUSTOMHANDLER_PORT=$handler_port $handler send FILE..."
  echo "    Ctrl-C to stop"
  wait
fi
exit "$status"
