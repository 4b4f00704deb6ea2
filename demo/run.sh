#!/usr/bin/env bash
# make demo: send a generated file through pktize | unpktize, clean and damaged, and show
# what the receiver says. Output goes to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/target/release:$PATH"
out=demo-out
mkdir -p "$out"

echo "== a 4 MiB file through pktize | unpktize"
head -c $((4 << 20)) /dev/urandom > "$out/sample.bin"
pktize -v "$out/sample.bin" | unpktize -v > "$out/received.bin"
cmp "$out/sample.bin" "$out/received.bin" && echo "received byte-identical"

echo
echo "== the same through a damaged channel: every 50th packet dropped, garbage inserted"
pktize "$out/sample.bin" | python3 -c '
import sys
buf = sys.stdin.buffer.read()
i, k, out = 0, 0, sys.stdout.buffer
while i < len(buf):
    n = 32 + int.from_bytes(buf[i+4:i+6], "big")
    if k % 50 != 7:
        out.write(buf[i:i+n])
    if k % 200 == 3:
        out.write(b"some garbage on the line")
    i, k = i + n, k + 1
' | unpktize -v --fill ff00ff --report "$out/report.json" > "$out/damaged.bin" || true
echo "output length $(stat -c %s "$out/damaged.bin") (original $(stat -c %s "$out/sample.bin")); damage map in $out/report.json"
