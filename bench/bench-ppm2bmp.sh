#!/usr/bin/env bash
# ppm2bmp on a 4096x4096 PPM (48 MiB), from a file and from a pipe, beside netpbm's
# ppmtobmp, ImageMagick, ffmpeg and Pillow in the same run: median wall time, throughput,
# speed relative to `cat > file`, peak RSS, and ppm2bmp's speed-up over the fastest peer.
source "$(dirname "$0")/lib.sh"

W=${W:-4096}
H=${H:-4096}
IN=$WORK/in.ppm
# Output to tmpfs when there is one: 48 MiB files rewritten dozens of times otherwise bring
# disk writeback stalls into every tool's timings at random.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  OUT_DIR=$(mktemp -d /dev/shm/pktools-bench.XXXXXX)
  trap 'rm -rf "$WORK" "$OUT_DIR"' EXIT
else
  OUT_DIR=$WORK
fi
OUT=$OUT_DIR/out.bmp
{ printf 'P6\n%d %d\n255\n' "$W" "$H"; head -c $((W * H * 3)) /dev/urandom; } > "$IN"
BYTES=$(stat -c %s "$IN")
PY=/usr/bin/python3       # Debian's, with Pillow
IM=/usr/bin/convert       # ImageMagick (not a stand-in earlier on PATH)

# name | command from a file | command from a pipe (reading stdin)
TOOLS=(
  "ppm2bmp|ppm2bmp $IN > $OUT|cat $IN | ppm2bmp > $OUT"
  "ppm2bmp --top-down|ppm2bmp --top-down $IN > $OUT|cat $IN | ppm2bmp --top-down > $OUT"
  "netpbm ppmtobmp -bpp=24|ppmtobmp -bpp=24 $IN > $OUT 2>/dev/null|cat $IN | ppmtobmp -bpp=24 > $OUT 2>/dev/null"
  "ImageMagick convert|$IM $IN bmp:$OUT|cat $IN | $IM ppm:- bmp:$OUT"
  "ffmpeg|ffmpeg -nostdin -loglevel error -y -i $IN $OUT|cat $IN | ffmpeg -loglevel error -y -f ppm_pipe -i - $OUT"
  "Pillow|$PY -c 'import sys; from PIL import Image; Image.open(sys.argv[1]).save(sys.argv[2])' $IN $OUT|cat $IN | $PY -c 'import sys; from PIL import Image; Image.open(sys.stdin.buffer).save(sys.argv[1], \"BMP\")' $OUT"
)

echo "  ${W}x${H} P6 maxval 255, $BYTES bytes; medians of $RUNS runs; output to a file in $OUT_DIR"
for source in file pipe; do
  if [ "$source" = file ]; then
    base=$(median_seconds "cat $IN > $OUT")
    echo "  -- from a file (baseline: cat file > file, $(printf '%.3f' "$base") s)"
  else
    base=$(median_seconds "cat $IN | cat > $OUT")
    echo "  -- from a pipe (baseline: cat file | cat > file, $(printf '%.3f' "$base") s)"
  fi
  declare -A secs=()
  for entry in "${TOOLS[@]}"; do
    IFS='|' read -r name from_file from_pipe <<< "$entry"
    cmd=$from_file
    [ "$source" = pipe ] && cmd=$from_pipe
    s=$(median_seconds "$cmd")
    secs[$name]=$s
    rss=$(peak_rss_kib "$cmd")
    printf '%s %8d KiB peak RSS\n' "$(row "$name" "$s" "$BYTES" "$base")" "$rss"
  done
  ours=${secs[ppm2bmp]}
  fastest=""
  for entry in "${TOOLS[@]}"; do
    name=${entry%%|*}
    case $name in ppm2bmp*) continue ;; esac
    awk -v n="$name" -v s="${secs[$name]}" -v o="$ours" 'BEGIN {
      printf "  ppm2bmp vs %-30s %6.1fx faster\n", n ":", s / o }'
    if [ -z "$fastest" ] || awk -v a="${secs[$name]}" -v b="${secs[$fastest]}" 'BEGIN { exit !(a < b) }'; then
      fastest=$name
    fi
  done
  awk -v n="$fastest" -v s="${secs[$fastest]}" -v o="$ours" 'BEGIN {
    r = s / o; printf "  fastest peer: %s; ppm2bmp is %.1fx faster (target 3x): %s\n", n, r, (r >= 3 ? "met" : "NOT met") }'
  unset secs
done
