#!/usr/bin/env bash
# raw2ppm: 4096x4096 rgb24 and yuv420p frames to PPM, beside cat, rawtoppm, ImageMagick and
# ffmpeg in the same run (median of $RUNS), and peak memory. Needs `cargo build --release`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=4096 H=4096
RGB=$WORK/in.rgb YUV=$WORK/in.yuv OUT=$WORK/out.ppm
IM=/usr/bin/convert # ImageMagick itself, not a stand-in earlier on PATH
for tool in ffmpeg rawtoppm "$IM" raw2ppm; do
  command -v "$tool" >/dev/null || { echo "bench-raw2ppm: $tool is not installed" >&2; exit 2; }
done

# A real picture rather than noise, so no tool gets an unfair shortcut.
ffmpeg -v error -f lavfi -i "testsrc2=s=${W}x${H}:r=1" -frames:v 1 -pix_fmt rgb24 -f rawvideo -y "$RGB"
ffmpeg -v error -f lavfi -i "testsrc2=s=${W}x${H}:r=1" -frames:v 1 -pix_fmt yuv420p -f rawvideo -y "$YUV"
rgb_bytes=$(stat -c %s "$RGB") yuv_bytes=$(stat -c %s "$YUV")

# interleaved NAME=CMD ...: run each command once per round, $RUNS rounds, so a change in the
# load of a shared machine hits all of them alike; sets t_NAME to each one's median (s).
interleaved() {
  local round pair
  declare -gA _times=()
  for ((round = 0; round < RUNS; round++)); do
    for pair in "$@"; do
      _times[${pair%%=*}]+="$(RUNS=1 median_seconds "${pair#*=}") "
    done
  done
  for pair in "$@"; do
    # shellcheck disable=SC2086 # the list of times is meant to split
    printf -v "t_${pair%%=*}" '%s' "$(printf '%s\n' ${_times[${pair%%=*}]} | sort -g |
      awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
  done
}

# speedup NAME OURS THEIRS: how many times faster raw2ppm is than a peer.
speedup() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "  raw2ppm vs %-33s %6.2fx faster\n", n, b / a }'; }

echo "rgb24 ${W}x${H} ($rgb_bytes bytes) to PPM, ratios to cat; RUNS=$RUNS"
interleaved \
  "cat=cat '$RGB' > '$OUT'" \
  "file=raw2ppm -s ${W}x${H} '$RGB' > '$OUT'" \
  "pipe=cat '$RGB' | raw2ppm -s ${W}x${H} > '$OUT'" \
  "bgr=raw2ppm -s ${W}x${H} -p bgr24 '$RGB' > '$OUT'" \
  "rawtoppm=rawtoppm $W $H '$RGB' > '$OUT'" \
  "im=$IM -size ${W}x${H} -depth 8 'rgb:$RGB' ppm:- > '$OUT'" \
  "ff=ffmpeg -v error -f rawvideo -pix_fmt rgb24 -s ${W}x${H} -i '$RGB' -f image2pipe -c:v ppm - > '$OUT'"
row "cat file > out" "$t_cat" "$rgb_bytes" "$t_cat"
row "raw2ppm file > out" "$t_file" "$rgb_bytes" "$t_cat"
row "cat file | raw2ppm > out" "$t_pipe" "$rgb_bytes" "$t_cat"
row "raw2ppm -p bgr24 file > out (converting)" "$t_bgr" "$rgb_bytes" "$t_cat"
row "rawtoppm" "$t_rawtoppm" "$rgb_bytes" "$t_cat"
row "ImageMagick convert rgb:- ppm:-" "$t_im" "$rgb_bytes" "$t_cat"
row "ffmpeg rawvideo -> image2pipe ppm" "$t_ff" "$rgb_bytes" "$t_cat"
speedup rawtoppm "$t_file" "$t_rawtoppm"
speedup ImageMagick "$t_file" "$t_im"
speedup ffmpeg "$t_file" "$t_ff"

echo "yuv420p ${W}x${H} ($yuv_bytes bytes) to PPM, ratios to ffmpeg"
interleaved \
  "ffy=ffmpeg -v error -f rawvideo -pix_fmt yuv420p -s ${W}x${H} -i '$YUV' -f image2pipe -c:v ppm - > '$OUT'" \
  "yfile=raw2ppm -s ${W}x${H} -p yuv420p '$YUV' > '$OUT'" \
  "ypipe=cat '$YUV' | raw2ppm -s ${W}x${H} -p yuv420p > '$OUT'"
row "ffmpeg rawvideo yuv420p -> ppm" "$t_ffy" "$yuv_bytes" "$t_ffy"
row "raw2ppm -p yuv420p file > out" "$t_yfile" "$yuv_bytes" "$t_ffy"
row "cat file | raw2ppm -p yuv420p > out" "$t_ypipe" "$yuv_bytes" "$t_ffy"

echo "peak RSS (KiB)"
for case in \
  "raw2ppm -s ${W}x${H} '$RGB'" \
  "cat '$RGB' | raw2ppm -s ${W}x${H} -p bgr24" \
  "raw2ppm -s ${W}x${H} -p yuv420p '$YUV'" \
  "cat '$YUV' | raw2ppm -s ${W}x${H} -p yuv420p" \
  "head -c 1G /dev/zero | raw2ppm -s 640x480 --frames" \
  "head -c 256M /dev/zero | raw2ppm -s 640x480 --frames --every 64k"; do
  # Measure raw2ppm alone: the last command of the pipeline, under /usr/bin/time.
  feed=${case%raw2ppm*} args=${case#*raw2ppm}
  if [ -n "$feed" ]; then
    rss=$( { eval "${feed% | }" | /usr/bin/time -f '%M' -o "$WORK/rss" raw2ppm $args >/dev/null; } 2>&1; tail -n 1 "$WORK/rss")
  else
    rss=$(peak_rss_kib "raw2ppm $args > /dev/null")
  fi
  printf '  %-60s %8s\n' "${case//$WORK\//}" "$rss"
done
