#!/usr/bin/env bash
# The spine: pktize | unpktize on a 1 GiB stream beside cat | cat, clean and with 1% loss
# and 1% reordering; keyed (--key) beside unkeyed; peak RSS of each process.
source "$(dirname "$0")/lib.sh"

SIZE_MIB=${SIZE_MIB:-1024}
data=$WORK/data.bin
head -c $((SIZE_MIB << 20)) /dev/urandom > "$data"
bytes=$((SIZE_MIB << 20))

# A damaged packet stream: 1% of packets dropped, 1% swapped with a later neighbour.
lossy=$WORK/lossy.pk
pktize "$data" | python3 -c '
import sys
HEADER = 32
buf = sys.stdin.buffer.read()
out = sys.stdout.buffer
packets = []
i = 0
while i < len(buf):
    n = int.from_bytes(buf[i+4:i+6], "big")
    packets.append(buf[i:i+HEADER+n])
    i += HEADER + n
for k in range(0, len(packets) - 53, 100):
    packets[k + 50], packets[k + 52] = packets[k + 52], packets[k + 50]
out.write(b"".join(p for k, p in enumerate(packets) if k % 100 != 7))
' > "$lossy"

base=$(median_seconds "cat '$data' | cat > /dev/null")
echo "1 GiB stream, median of $RUNS runs (MB/s of payload):"
row "cat | cat" "$base" "$bytes" "$base"
row "pktize | unpktize (file in)" "$(median_seconds "pktize '$data' | unpktize > /dev/null")" "$bytes" "$base"
head -c 32 /dev/urandom > "$WORK/key"
row "pktize --key | unpktize --key (file in)" "$(median_seconds "pktize --key '$WORK/key' '$data' | unpktize --key '$WORK/key' > /dev/null")" "$bytes" "$base"
# BLAKE3 hashes 1 KiB chunks in parallel only when a message has several: larger payloads.
row "pktize -s 8k | unpktize (file in)" "$(median_seconds "pktize -s 8k '$data' | unpktize > /dev/null")" "$bytes" "$base"
row "pktize -s 8k --key | unpktize --key" "$(median_seconds "pktize -s 8k --key '$WORK/key' '$data' | unpktize --key '$WORK/key' > /dev/null")" "$bytes" "$base"
row "cat | pktize | unpktize (pipe in)" "$(median_seconds "cat '$data' | pktize | unpktize > /dev/null")" "$bytes" "$base"
row "cat lossy | unpktize (1% loss+reorder)" "$(median_seconds "cat '$lossy' | unpktize > /dev/null")" "$bytes" "$base"
echo "peak RSS (KiB):"
echo "  pktize, mapped file      $(peak_rss_kib "" pktize "$data")"
echo "  pktize, from a pipe      $(peak_rss_kib "cat '$data'" pktize)"
pktize "$data" > "$WORK/clean.pk"
echo "  unpktize, clean pipe     $(peak_rss_kib "cat '$WORK/clean.pk'" unpktize)"
echo "  unpktize, mapped file    $(peak_rss_kib "" unpktize "$WORK/clean.pk")"
echo "  unpktize, lossy pipe     $(peak_rss_kib "cat '$lossy'" unpktize)"
pktize --key "$WORK/key" "$data" > "$WORK/keyed.pk"
echo "  unpktize --key, pipe     $(peak_rss_kib "cat '$WORK/keyed.pk'" unpktize --key "$WORK/key")"
