#!/usr/bin/env bash
# Forward error correction: pktize --fec encode and unpktize decode throughput for 8+2
# and 32+4 on a 1 GiB stream (SIZE_MIB), beside cat and the plain (no parity) figures of
# the same run; decode is measured on a pre-made stream with 1% of its packets dropped,
# through a pipe and from the mapped file.
source "$(dirname "$0")/lib.sh"

SIZE_MIB=${SIZE_MIB:-1024}
LOSS=${LOSS:-0.01}
data=$WORK/data.bin
head -c $((SIZE_MIB << 20)) /dev/urandom > "$data"
bytes=$((SIZE_MIB << 20))

pktize "$data" | drop_packets "$LOSS" 1 > "$WORK/plain.pk"
for fec in 8+2 32+4; do
  pktize --fec "$fec" "$data" | drop_packets "$LOSS" 1 > "$WORK/fec-$fec.pk"
done

base=$(median_seconds "cat '$data' | cat > /dev/null")
echo "$SIZE_MIB MiB stream, median of $RUNS runs (MB/s of payload):"
row "cat | cat" "$base" "$bytes" "$base"
echo "encode:"
row "pktize > /dev/null" "$(median_seconds "pktize '$data' > /dev/null")" "$bytes" "$base"
for fec in 8+2 32+4; do
  row "pktize --fec $fec > /dev/null" \
    "$(median_seconds "pktize --fec $fec '$data' > /dev/null")" "$bytes" "$base"
  row "cat | pktize --fec $fec (pipe in)" \
    "$(median_seconds "cat '$data' | pktize --fec $fec > /dev/null")" "$bytes" "$base"
done
# Issue 19's target: coding at least as fast as cat | cat, both ends a pipe.
row "pktize --fec 32+4 < file | cat" \
  "$(median_seconds "pktize --fec 32+4 < '$data' | cat > /dev/null")" "$bytes" "$base"
row "pktize --fec 8+2 --interleave > /dev/null" \
  "$(median_seconds "pktize --fec 8+2 --interleave '$data' > /dev/null")" "$bytes" "$base"
echo "decode, $(awk -v l="$LOSS" 'BEGIN { print l * 100 }')% of packets dropped:"
row "cat plain | unpktize (no parity)" \
  "$(median_seconds "cat '$WORK/plain.pk' | unpktize > /dev/null || true")" "$bytes" "$base"
for fec in 8+2 32+4; do
  row "cat fec-$fec | unpktize" \
    "$(median_seconds "cat '$WORK/fec-$fec.pk' | unpktize > /dev/null || true")" "$bytes" "$base"
done
# unpktize's own decoding speed: from a mapped file (through a pipe, cat's copying bounds it).
row "unpktize < plain (mapped, no parity)" \
  "$(median_seconds "unpktize < '$WORK/plain.pk' > /dev/null || true")" "$bytes" "$base"
for fec in 8+2 32+4; do
  row "unpktize < fec-$fec (mapped)" \
    "$(median_seconds "unpktize < '$WORK/fec-$fec.pk' > /dev/null || true")" "$bytes" "$base"
done
for fec in 8+2 32+4; do
  unpktize -v < "$WORK/fec-$fec.pk" 2>&1 >/dev/null | sed -n "s/^unpktize: packets: /  $fec: /p" || true
done
echo "peak RSS (KiB):"
echo "  pktize --fec 32+4, pipe in    $(peak_rss_kib "cat '$data'" pktize --fec 32+4)"
echo "  unpktize, 8+2 clean pipe      $(peak_rss_kib "pktize --fec 8+2 '$data'" unpktize)"
echo "  unpktize, 8+2 lossy pipe      $(peak_rss_kib "cat '$WORK/fec-8+2.pk'" unpktize)"
echo "  unpktize, 32+4 lossy pipe     $(peak_rss_kib "cat '$WORK/fec-32+4.pk'" unpktize)"
