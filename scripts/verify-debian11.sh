#!/usr/bin/env bash
# Runs the packaged handler in a minimal Debian 11 (bullseye) root, the oldest base of the Functions
# images, against Azurite on this machine, and checks that it archives one sample event. This proves
# what the GLIBC check in scripts/package.sh only infers: the zip's binary starts and works there.
#
#   sudo scripts/verify-debian11.sh      (needs root for debootstrap and chroot; not part of cargo test)
#
# The root is built once with debootstrap (a download of a few minutes) into
# ${XDG_CACHE_HOME:-$HOME/.cache}/acs-event-archive/bullseye, outside the repository, and reused.
# DEBIAN_MIRROR  the mirror debootstrap downloads from (default: debootstrap's own)
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "verify-debian11.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "debootstrap and chroot need root: run it as root"
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are missing: install Node.js with npm (Azurite runs on it)"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/acs-event-archive"
root="$cache/bullseye"
if [[ ! -e "$root/.complete" ]]; then
  if ! command -v debootstrap >/dev/null; then
    echo "==> installing debootstrap"
    apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null ||
      die "could not install debootstrap with apt-get"
  fi
  echo "==> building a minimal Debian 11 root in $root (downloads ~40 MB, takes a few minutes)"
  rm -rf "$root" && mkdir -p "$cache"
  debootstrap --variant=minbase --include=ca-certificates bullseye "$root" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} \
    >"$cache/debootstrap.log" 2>&1 ||
    die "debootstrap failed (its log: $cache/debootstrap.log); if bullseye has left the default mirror, set DEBIAN_MIRROR to one that keeps it"
  touch "$root/.complete"
else
  echo "==> reusing the Debian 11 root in $root"
fi
echo "    $(cat "$root/etc/debian_version") with $(chroot "$root" /usr/bin/ldd --version | head -n 1)"

scripts/package.sh
zip=dist/acs-event-archive.zip
host_handler=${PACKAGE_TARGET_DIR:-target/package}/x86_64-unknown-linux-gnu/release/handler

# Where the Functions images mount the app.
app=/home/site/wwwroot
echo "==> unpacking $zip into $root$app"
rm -rf "${root:?}$app" && mkdir -p "$root$app"
python3 - "$zip" "$root$app" <<'EOF'
import os, sys, zipfile
# zipfile's extractall drops the modes: set them from the entries, as the Functions host's unzip does.
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        path = z.extract(info, sys.argv[2])
        os.chmod(path, (info.external_attr >> 16) & 0o777)
EOF

if [[ "$(node -p "try{require('./node_modules/azurite/package.json').version}catch(e){''}" 2>/dev/null)" != "3.37.0" ]]; then
  echo "==> installing Azurite 3.37.0 into ./node_modules"
  npm ci --no-audit --no-fund --loglevel=error
fi

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
wait_for_port() {
  for _ in $(seq 1 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

azurite_port=$(free_port)
handler_port=$(free_port)
echo "==> starting Azurite on 127.0.0.1:$azurite_port"
node node_modules/azurite/dist/src/blob/main.js --blobHost 127.0.0.1 --blobPort "$azurite_port" \
  --location "$work/azurite" --silent --skipApiVersionCheck --disableTelemetry &
pids+=($!)
wait_for_port "$azurite_port" || die "Azurite did not listen on port $azurite_port"

account=devstoreaccount1
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
storage="DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$azurite_port/$account"

# chroot keeps the host's network namespace, so the handler reaches Azurite on 127.0.0.1; env -i gives
# it only what the host would set, none of this shell's environment.
echo "==> starting $app/handler inside the Debian 11 root on 127.0.0.1:$handler_port"
chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root \
  FUNCTIONS_CUSTOMHANDLER_PORT="$handler_port" ARCHIVE_STORAGE="$storage" "$app/handler" \
  >"$work/handler.log" 2>&1 &
pids+=($!)
if ! wait_for_port "$handler_port"; then
  cat "$work/handler.log" >&2
  die "the handler did not listen on port $handler_port inside the Debian 11 root (its output is above)"
fi

event=tests/fixtures/events/docs__SMSReceived__1.json
echo "==> sending $event"
answer=$("$host_handler" send "$event" --url "http://127.0.0.1:$handler_port" 2>&1) || true
echo "$answer"
echo "--- handler output"
cat "$work/handler.log"
echo "---"
grep -q '^    archived ' <<<"$answer" || die "the handler in the Debian 11 root did not archive the event"
echo "==> OK: the packaged handler archived the event inside Debian $(cat "$root/etc/debian_version")"
