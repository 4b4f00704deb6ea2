#!/usr/bin/env bash
# Video concealment table (issue 31): per-frame PSNR against the frames sent, through
# corrupt's loss (rate x mean burst length), received with fill and with --conceal=spatial,
# temporal and auto. Two clips of 30 raw rgb24 frames, 320x240, cut from a photograph
# (scikit-image's astronaut, tests/photos/fetch.sh):
#   still: a fixed window with a 16x16 red square moving 4 px a frame;
#   pan:   a window moving 2 px a frame across the photograph.
# Each cell: mean / minimum per-frame PSNR in dB over SEEDS seeds (default 2); a frame
# received intact counts as 99 dB in the mean.
source "$(dirname "$0")/lib.sh"
SEEDS=${1:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tests/photos/fetch.sh"
photo=$root/target/photos/astronaut.ppm
W=320 H=240 N=30
ffmpeg -nostdin -v error -y -loop 1 -i "$photo" -f lavfi -i color=red:s=16x16 \
  -filter_complex "[0]crop=$W:$H:96:136[bg];[bg][1]overlay=x='20+4*n':y=110:eval=frame" \
  -frames:v $N -f rawvideo -pix_fmt rgb24 "$WORK/still.rgb"
ffmpeg -nostdin -v error -y -loop 1 -i "$photo" -vf "crop=$W:$H:x='2*n':y=136" \
  -frames:v $N -f rawvideo -pix_fmt rgb24 "$WORK/pan.rgb"
# frame_psnrs SENT GOT: one PSNR per frame, in dB (99 for an intact frame).
frame_psnrs() {
  ffmpeg -nostdin -v error -f rawvideo -pix_fmt rgb24 -s ${W}x$H -i "$1" \
    -f rawvideo -pix_fmt rgb24 -s ${W}x$H -i "$2" -lavfi "psnr=stats_file=$WORK/psnr.txt" \
    -f null - </dev/null
  sed 's/.*psnr_avg:\([^ ]*\).*/\1/; s/inf/99/' "$WORK/psnr.txt"
}
echo "| clip | loss, mean burst | fill | spatial | temporal | auto |"
echo "|---|---|---|---|---|---|"
for clip in still pan; do
  for loss in 5% 10%; do
    for burst in 1 8; do
      row="| $clip | $loss, $burst |"
      for mode in fill spatial temporal auto; do
        all=()
        for ((s = 1; s <= SEEDS; s++)); do
          recv=""
          [ $mode != fill ] && recv="--conceal=$mode --image ${W}x$H"
          pktize "$WORK/$clip.rgb" | corrupt --loss $loss --burst $burst --seed $s |
            unpktize $recv > "$WORK/got.rgb" 2>/dev/null || true
          all+=($(frame_psnrs "$WORK/$clip.rgb" "$WORK/got.rgb"))
        done
        row+=" $(printf '%s\n' "${all[@]}" |
          awk '{s += $1; if (NR == 1 || $1 < m) m = $1} END {printf "%.1f / %.1f", s / NR, m}') |"
      done
      echo "$row"
    done
  done
done
