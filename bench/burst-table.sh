#!/usr/bin/env bash
# The burst table of the README: bytes lost (filled) with `--fec 8+2` alone and with
# `--interleave` too, through corrupt's bursty (Gilbert-Elliott) loss at several burst
# lengths, on a 10 MiB file; mean over SEEDS seeds (default 5).
source "$(dirname "$0")/lib.sh"
SEEDS=${1:-5}
f=$WORK/f
head -c $((10 << 20)) /dev/urandom > "$f"
lost_share() { # pktize args, loss, burst
  local sum=0 s
  for ((s = 1; s <= SEEDS; s++)); do
    pktize $1 "$f" | corrupt --loss "$2" --burst "$3" --seed "$s" |
      unpktize --report "$WORK/r.json" > /dev/null || true
    sum=$((sum + $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes"]["lost"])' "$WORK/r.json")))
  done
  python3 -c "print(f'{100 * $sum / ($SEEDS * (10 << 20)):.3f}%')"
}
echo "| loss, mean burst | --fec 8+2 | --fec 8+2 --interleave |"
echo "|---|---|---|"
for loss in 1% 3%; do
  for burst in 1 4 16 64; do
    echo "| $loss, $burst | $(lost_share "--fec 8+2" $loss $burst) | $(lost_share "--fec 8+2 --interleave" $loss $burst) |"
  done
done
