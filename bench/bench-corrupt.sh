#!/usr/bin/env bash
# corrupt: a 1 GiB packet stream through the channel at BER 1e-6 with 1% loss, beside
# cat | cat; raw mode at BER 1e-6 beside zzuf (same rate, same data); peak RSS.
source "$(dirname "$0")/lib.sh"

SIZE_MIB=${SIZE_MIB:-1024}
data=$WORK/data.bin
packets=$WORK/data.pk
head -c $((SIZE_MIB << 20)) /dev/urandom > "$data"
pktize "$data" > "$packets"
pk_bytes=$(stat -c %s "$packets")
# Let the new files reach the disk now rather than during the first timings.
sync
cat "$data" "$packets" > /dev/null
bytes=$((SIZE_MIB << 20))
channel="--ber 1e-6 --loss 1% --seed 1"

echo "packet stream of $SIZE_MIB MiB of payload, median of $RUNS runs (MB/s of stream):"
base=$(median_seconds "cat '$packets' | cat > /dev/null")
row "cat | cat" "$base" "$pk_bytes" "$base"
row "cat | corrupt (BER 1e-6, 1% loss) | cat" \
  "$(median_seconds "cat '$packets' | corrupt $channel | cat > /dev/null")" "$pk_bytes" "$base"
row "corrupt (BER 1e-6, 1% loss) FILE | cat" \
  "$(median_seconds "corrupt $channel '$packets' | cat > /dev/null")" "$pk_bytes" "$base"

echo "raw bytes, $SIZE_MIB MiB, BER 1e-6, median of $RUNS runs:"
if command -v zzuf > /dev/null; then
  zbase=$(median_seconds "zzuf -r 0.000001 -s 1 < '$data' > /dev/null")
  row "zzuf -r 0.000001 -s 1 < FILE" "$zbase" "$bytes" "$zbase"
else
  echo "  zzuf is not installed (apt-get install zzuf): no baseline for raw mode"
  zbase=$(median_seconds "cat '$data' > /dev/null")
  row "cat FILE" "$zbase" "$bytes" "$zbase"
fi
row "corrupt --raw --ber 1e-6 < FILE" \
  "$(median_seconds "corrupt --raw --ber 1e-6 --seed 1 < '$data' > /dev/null")" "$bytes" "$zbase"
row "cat FILE | corrupt --raw --ber 1e-6" \
  "$(median_seconds "cat '$data' | corrupt --raw --ber 1e-6 --seed 1 > /dev/null")" "$bytes" "$zbase"

echo "peak RSS (KiB):"
echo "  corrupt, packets from a pipe   $(peak_rss_kib "cat '$packets'" corrupt $channel)"
echo "  corrupt, packets, mapped file  $(peak_rss_kib "" corrupt $channel "$packets")"
echo "  corrupt, full reorder buffer   $(peak_rss_kib "cat '$packets'" corrupt --reorder 100%,128 --dup 5% --truncate 1% --seed 1)"
echo "  corrupt --raw, from a pipe     $(peak_rss_kib "cat '$data'" corrupt --raw --ber 1e-6 --seed 1)"
echo "  corrupt --raw --dup, 8M blocks $(peak_rss_kib "cat '$data'" corrupt --raw --block 8M --dup 50% --seed 1)"
