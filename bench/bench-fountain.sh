#!/usr/bin/env bash
# Fountain coding speed (issue 30) beside cat | cat in the same run, on a SIZE MiB file
# (default 64): the sender making the data pass and a pass of repair (twice the file's
# bytes, against cat of the file twice), and the receiver rebuilding a capture that lost
# 20% of the packets (against cat of the capture), with peak RSS; and the code alone
# (bench/rs-block.rs: reed-solomon-simd's low-rate coder on blocks of 2048 KiB-shards, no
# I/O) on as many bytes, against cat of the file once: the most the programs could be.
source "$(dirname "$0")/lib.sh"
(cd "$(dirname "$0")/.." && cargo build --release --quiet --example bench-rs-block)
rs=$(cd "$(dirname "$0")/.." && pwd)/target/release/examples/bench-rs-block
SIZE=${1:-64}
f=$WORK/f
head -c $((SIZE << 20)) /dev/urandom > "$f"
pktize --fountain --repeat 2 "$f" | corrupt --loss 20% --seed 1 > "$WORK/cap"
base=$(median_seconds "cat $f $f | cat")
enc=$(median_seconds "pktize --fountain --repeat 2 $f | cat")
cbase=$(median_seconds "cat $WORK/cap | cat")
dec=$(median_seconds "unpktize -o $WORK/got < $WORK/cap")
cmp -s "$WORK/got" "$f" || { echo "not whole" >&2; exit 1; }
once=$(median_seconds "cat $f | cat")
rs_enc=$(median_seconds "$rs encode $SIZE")
rs_dec=$(median_seconds "$rs decode $SIZE")
enc_rss=$(peak_rss_kib "" pktize --fountain --repeat 2 "$f")
dec_rss=$(peak_rss_kib "cat $WORK/cap" unpktize -o "$WORK/got")
ratio() { echo "scale=2; $1 / $2" | bc -l; }
mbs() { echo "scale=0; $1 / $2" | bc -l; }
echo "| ${SIZE} MiB | seconds | MB/s of file | speed over cat \| cat | peak RSS |"
echo "|---|---|---|---|---|"
echo "| encode (data + 1 pass of repair) | $enc | $(mbs "$SIZE * 1.048576" "$enc") | $(ratio "$base" "$enc")x | ${enc_rss} KiB |"
echo "| decode -o (20% lost) | $dec | $(mbs "$SIZE * 1.048576" "$dec") | $(ratio "$cbase" "$dec")x | ${dec_rss} KiB |"
echo "| the code alone: encode (1 pass of repair) | $rs_enc | $(mbs "$SIZE * 1.048576" "$rs_enc") | $(ratio "$once" "$rs_enc")x \`cat f \| cat\` | |"
echo "| the code alone: decode (20% lost) | $rs_dec | $(mbs "$SIZE * 1.048576" "$rs_dec") | $(ratio "$once" "$rs_dec")x \`cat f \| cat\` | |"
