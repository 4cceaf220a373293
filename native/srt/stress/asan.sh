#!/usr/bin/env bash
# Builds native/srt with AddressSanitizer + UBSan into a temp dir and runs the stream id fuzz, the caller
# stress (python3 + ctypes on libsrt: publishers, players, malformed ids, passphrase mismatches, abrupt
# closes, start/stop cycles, fd count) and the exit/GC-finalizer run against it. Needs gcc, libsrt-gnutls-dev,
# python3. Node itself is not instrumented, so libasan is preloaded. Usage: bash native/srt/stress/asan.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
nodeinc=$(dirname "$(dirname "$(command -v node)")")/include/node
gcc -shared -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -Wall -Wextra -Wno-unused-parameter -DNODE_GYP_MODULE_NAME=srt_server -I"$nodeinc" $(pkg-config --cflags srt) \
  "$here/../srt_server.c" -o "$out/srt_server.node" $(pkg-config --libs srt) -lpthread
preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
run() { ADDON="$out/srt_server.node" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 LD_PRELOAD="$preload" timeout 600 node "$@"; }
run "$here/fuzz.cjs" | tail -1
CYCLES=${CYCLES:-6} SECS=${SECS:-4} run "$here/stress.cjs" | grep -v '^callers'
run --expose-gc "$here/exit.cjs"
echo "asan: clean"
