#!/usr/bin/env bash
# Builds the deployable app: a Linux x64 `handler` that runs on glibc 2.17 and later (the Functions
# images are Debian 11/12, and a binary linked against this machine's newer glibc would publish fine
# and then never start), and dist/acs-event-archive.zip with host.json, every function folder's
# function.json and `handler`, mode 0755 (Core Tools and the Flex deployment keep the zip's modes).
#
#   scripts/package.sh
#
# PACKAGE_TARGET_DIR  cargo's target dir for this build (default target/package; kept apart from
#                     target/ so a debug `cargo build` never invalidates the release LTO build)
# PACKAGE_OUT         the zip to write (default dist/acs-event-archive.zip)
#
# zig (the C toolchain and glibc stubs) and cargo-zigbuild come pinned from PyPI into .tools/venv.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1
TARGET=x86_64-unknown-linux-gnu
GLIBC_TARGET=2.17
# The oldest glibc the binary may need: Debian 10's. Debian 11 (2.31) and 12 (2.36) images are above it.
GLIBC_MAX=2.28

target_dir=${PACKAGE_TARGET_DIR:-target/package}
out=${PACKAGE_OUT:-dist/acs-event-archive.zip}
venv=.tools/venv

die() { echo "package.sh: $*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is missing: install it (Debian: apt-get install python3 python3-venv)"
command -v cargo >/dev/null || die "cargo is missing: install the Rust toolchain with rustup"
command -v objdump >/dev/null || command -v readelf >/dev/null ||
  die "objdump and readelf are missing (binutils): install them (Debian: apt-get install binutils)"

stamp="$venv/.pinned-ziglang-$ZIGLANG_VERSION-cargo-zigbuild-$CARGO_ZIGBUILD_VERSION"
# Two runs at once (two `cargo test`s) install the tools once: the second waits for the first.
mkdir -p .tools
exec 9>.tools/.install.lock
flock 9
if [[ ! -e "$stamp" ]]; then
  echo "==> installing ziglang $ZIGLANG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION from PyPI into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" ||
    die "python3 -m venv failed: install the venv module (Debian: apt-get install python3-venv)"
  [[ -x "$venv/bin/pip" ]] ||
    die "the venv has no pip: install ensurepip (Debian: apt-get install python3-venv python3-pip)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" ||
    die "pip could not install ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION: check that PyPI is reachable (pip's own message is above)"
  touch "$stamp"
fi
flock -u 9
# cargo-zigbuild finds zig as `python3 -m ziglang` when no `zig` is on PATH: the venv's python3 first.
export PATH="$root/$venv/bin:$PATH"

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "==> adding the Rust target $TARGET"
  rustup target add "$TARGET" || die "rustup could not add the target $TARGET"
fi

echo "==> building handler for $TARGET with glibc $GLIBC_TARGET (release, fat LTO: this takes a few minutes on 2 cores)"
start=$SECONDS
CARGO_TARGET_DIR="$target_dir" cargo zigbuild --release --locked --bin handler --target "$TARGET.$GLIBC_TARGET"
binary="$target_dir/$TARGET/release/handler"
[[ -x "$binary" ]] || die "the build finished without producing $binary"
echo "    built $binary in $((SECONDS - start)) s ($(stat -c %s "$binary") bytes)"

highest_glibc() {
  if command -v objdump >/dev/null; then objdump -T "$1"; else readelf --dyn-syms --wide "$1"; fi |
    grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -n 1
}
glibc=$(highest_glibc "$binary")
[[ -n "$glibc" ]] || die "found no GLIBC symbol versions in $binary: is it a dynamically linked glibc binary?"
if [[ "$(printf '%s\n%s\n' "$glibc" "$GLIBC_MAX" | sort -V | tail -n 1)" != "$GLIBC_MAX" ]]; then
  die "$binary needs GLIBC_$glibc, newer than the GLIBC_$GLIBC_MAX the Functions images are held to"
fi
echo "    highest glibc symbol version: GLIBC_$glibc (limit GLIBC_$GLIBC_MAX)"

mkdir -p "$(dirname "$out")"
python3 - "$binary" "$out" <<'EOF'
import sys, zipfile
from pathlib import Path

binary, out = Path(sys.argv[1]), Path(sys.argv[2])
# Every top-level folder with a function.json is a function; hidden and tool folders never hold one.
functions = sorted(p.parent.name for p in Path(".").glob("*/function.json") if not p.parent.name.startswith("."))
if not functions:
    sys.exit("package.sh: no top-level folder has a function.json")
entries = [("host.json", Path("host.json"), 0o644)]
entries += [(f"{name}/function.json", Path(name, "function.json"), 0o644) for name in functions]
entries.append(("handler", binary, 0o755))

tmp = out.with_name(out.name + ".tmp")
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for name, source, mode in entries:
        # A fixed date keeps the zip a function of its inputs.
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.create_system = 3  # unix, so extractors read the mode from external_attr
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, source.read_bytes())
tmp.replace(out)
for name, _, mode in entries:
    print(f"    {oct(mode)[2:]} {name}")
print(f"    functions: {', '.join(functions)}")
EOF
echo "==> wrote $out ($(stat -c %s "$out") bytes)"
