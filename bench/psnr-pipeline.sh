#!/usr/bin/env bash
# The PSNR table through the real programs (issue 18): a photograph sent with pktize,
# through corrupt's loss (rate x mean burst length), received with fill, with --conceal,
# and sent with --interleave and received with --conceal; PSNR in dB against the original,
# mean squared error over SEEDS seeds (default 3).
source "$(dirname "$0")/lib.sh"
SEEDS=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tests/photos/fetch.sh"
photo=$root/target/photos/astronaut.ppm
psnr() { # original received...
  /usr/bin/python3 - "$@" <<'PY'
import math, sys
a = open(sys.argv[1], 'rb').read()
se, n = 0, 0
for f in sys.argv[2:]:
    b = open(f, 'rb').read()
    se += sum((x - y) ** 2 for x, y in zip(a[-512 * 512 * 3:], b[-512 * 512 * 3:]))
    n += 512 * 512 * 3
print(f"{10 * math.log10(255 ** 2 * n / se):.1f}" if se else "inf")
PY
}
echo "| loss, mean burst | fill | --conceal | --interleave + --conceal |"
echo "|---|---|---|---|"
for loss in 1% 5% 10% 20%; do
  for burst in 1 8 64; do
    row="| $loss, $burst |"
    for mode in fill conceal interleave; do
      files=()
      for ((s = 1; s <= SEEDS; s++)); do
        out=$WORK/$mode-$s.ppm
        send=""; recv=""
        [ $mode = interleave ] && send="--interleave"
        [ $mode != fill ] && recv="--conceal"
        pktize $send "$photo" | corrupt --loss $loss --burst $burst --seed $s |
          unpktize $recv > "$out" 2>/dev/null || true
        files+=("$out")
      done
      row+=" $(psnr "$photo" "${files[@]}") |"
    done
    echo "$row"
  done
done
