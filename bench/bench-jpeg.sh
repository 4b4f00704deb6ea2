#!/usr/bin/env bash
# JPEGs sent indexed (issue 33): bytes on the wire over the JPEG's size, and PSNR (RGB, dB)
# against the lossless decode of the original JPEG through corrupt's loss, beside the
# same photograph with restart markers (jpegtran -restart 1) sent as a plain file at equal
# bytes on the wire (the highest cjpeg quality that fits; the restart markers cost
# 5-9%). Photographs
# astronaut and coffee at q75 and q90 (cjpeg), 1 KiB payloads; SEEDS seeds (default 20),
# mean squared error pooled over them. libjpeg-turbo's djpeg decodes everything: it
# resynchronises at restart markers where ffmpeg gives up at the first damaged MCU.
source "$(dirname "$0")/lib.sh"
SEEDS=${SEEDS:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tests/photos/fetch.sh"
# The pixels after the 15-byte PPM header ("P6\n512 512\n255\n", "P6\n600 400\n255\n").
rgb() { djpeg -ppm "$1" 2>/dev/null | tail -c +16 || true; }
psnr() { # reference.rgb received.rgb...
  /usr/bin/python3 - "$@" <<'PY'
import math, sys
a = open(sys.argv[1], 'rb').read()
se, n = 0, 0
for f in sys.argv[2:]:
    b = open(f, 'rb').read()
    b = b[:len(a)] + bytes(max(0, len(a) - len(b)))
    se += sum((x - y) ** 2 for x, y in zip(a, b))
    n += len(a)
print(f"{10 * math.log10(255 ** 2 * n / se):.1f}" if se else "inf")
PY
}
echo "| photo | JPEG bytes | wire/JPEG: indexed, restart 1 plain | loss, burst | PSNR indexed | PSNR restart 1 plain, equal wire bytes (its quality) |"
echo "|---|---|---|---|---|---|"
for name in astronaut coffee; do
  for q in 75 90; do
    j=$WORK/$name-$q.jpg r=$WORK/$name-$q-rst.jpg
    cjpeg -quality $q "$root/target/photos/$name.ppm" > "$j"
    # The restart-marker file at equal bytes on the wire: the highest quality whose
    # plain transfer is no longer than the indexed one's.
    pktize "$j" > "$WORK/ours.pk"
    for ((qr = q; qr > 5; qr--)); do
      cjpeg -quality $qr "$root/target/photos/$name.ppm" | jpegtran -restart 1 > "$r"
      [ "$(pktize --type raw "$r" | wc -c)" -le "$(stat -c %s "$WORK/ours.pk")" ] && break
    done
    rgb "$j" > "$WORK/ref.rgb"
    pktize --type raw "$r" > "$WORK/rst.pk"
    # Zero loss: byte for byte, or the benchmark fails.
    unpktize < "$WORK/ours.pk" | cmp -s - "$j" || { echo "not byte-identical: $name q$q" >&2; exit 1; }
    size=$(stat -c %s "$j")
    ratio=$(echo "scale=3; $(stat -c %s "$WORK/ours.pk") / $size" | bc)
    ratio_r=$(echo "scale=3; $(stat -c %s "$WORK/rst.pk") / $size" | bc)
    for lb in "1% 1" "5% 1" "10% 1" "20% 1" "10% 8"; do
      set -- $lb
      ours=() rst=()
      for ((s = 1; s <= SEEDS; s++)); do
        corrupt --loss $1 --burst $2 --seed $s < "$WORK/ours.pk" | unpktize > "$WORK/o.jpg" 2>/dev/null || true
        corrupt --loss $1 --burst $2 --seed $s < "$WORK/rst.pk" | unpktize > "$WORK/r.jpg" 2>/dev/null || true
        rgb "$WORK/o.jpg" > "$WORK/o$s.rgb"
        rgb "$WORK/r.jpg" > "$WORK/r$s.rgb"
        ours+=("$WORK/o$s.rgb") rst+=("$WORK/r$s.rgb")
      done
      echo "| $name q$q | $size | $ratio, $ratio_r | $1, $2 | $(psnr "$WORK/ref.rgb" "${ours[@]}") | $(psnr "$WORK/ref.rgb" "${rst[@]}") (q$qr) |"
    done
  done
done

# A carousel (pktize --repeat 0), then the fountain (pktize --fountain), through 10% loss
# until unpktize holds every byte: the packets that reached the receiver (same channel,
# same packet size, so the time at a given rate; for the fountain the data packets plus
# those it rebuilt from repair packets), the astronaut as a q75 JPEG and as PPM.
echo
echo "| carousel, 10% loss, until whole | data packets received (mean of $SEEDS) | ratio to PPM |"
echo "|---|---|---|"
cjpeg -quality 75 "$root/target/photos/astronaut.ppm" > "$WORK/c.jpg"
received() { # file: mean data packets received until whole
  local s total=0 n
  for ((s = 1; s <= SEEDS; s++)); do
    n=$(pktize ${MODE:---repeat 0} "$1" | corrupt --loss 10% --seed $s | unpktize -v 2>&1 >/dev/null |
      sed -n 's/.*packets: \([0-9]*\) intact, .* lost, \([0-9]*\) recovered .* \([0-9]*\) duplicate.*/\1 \2 \3/p' |
      awk -v f="${MODE:-}" '{print $1 + $3 + (f ? $2 : 0)}')
    total=$((total + n))
  done
  echo $((total / SEEDS))
}
jp=$(received "$WORK/c.jpg") pp=$(received "$root/target/photos/astronaut.ppm")
echo "| astronaut q75 JPEG, indexed | $jp | $(echo "scale=3; $jp / $pp" | bc) |"
echo "| astronaut PPM | $pp | 1 |"
MODE=--fountain
jf=$(received "$WORK/c.jpg") pf=$(received "$root/target/photos/astronaut.ppm")
echo "| astronaut q75 JPEG, indexed, --fountain | $jf | $(echo "scale=3; $jf / $pf" | bc) |"
echo "| astronaut PPM, --fountain | $pf | 1 |"
