#!/usr/bin/env bash
# Video (issue 31), same run, release build:
#  - concealment of 1080p yuv420p frames at 5% loss: `unpktize --conceal` beside plain
#    `unpktize` on the same capture (a mapped file, to /dev/null), the frame data's rate,
#    the concealment's own rate (from the difference) and peak RSS; the goal is 4x real
#    time at 60 frames a second (about 750 MB/s of frame data), within 16 MiB plus a frame;
#  - raw2ppm on Y4M beside ffmpeg's own conversion to a PPM stream and to rgb24 (yuv420p,
#    1080p, all reading a pipe); the goal is 2x ffmpeg's speed.
source "$(dirname "$0")/lib.sh"
FRAMES=${FRAMES:-60}
# cpu_seconds CMD: the median user+system time of CMD (a bash string) over $RUNS runs: on
# a shared machine, what the work costs, whatever else runs.
cpu_seconds() {
  local i
  for ((i = 0; i < RUNS; i++)); do
    /usr/bin/time -f '%U %S' -o "$WORK/cpu" bash -c "$1" >/dev/null 2>&1 || true
    tail -n 1 "$WORK/cpu" | awk '{print $1 + $2}'
  done | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=60 -frames:v "$FRAMES" \
  -f rawvideo -pix_fmt yuv420p "$WORK/hd.yuv"
bytes=$(stat -c %s "$WORK/hd.yuv")
pktize "$WORK/hd.yuv" | corrupt --loss 5% --seed 1 > "$WORK/hd.pk"
plain=$(median_seconds "unpktize < $WORK/hd.pk > /dev/null || true")
conceal=$(median_seconds "unpktize --conceal < $WORK/hd.pk --image 1920x1080:yuv420p > /dev/null || true")
plain_cpu=$(cpu_seconds "unpktize < $WORK/hd.pk > /dev/null")
conceal_cpu=$(cpu_seconds "unpktize --conceal < $WORK/hd.pk --image 1920x1080:yuv420p > /dev/null")
rss=$(peak_rss_kib "unpktize --conceal --image 1920x1080:yuv420p < $WORK/hd.pk > /dev/null")
awk -v b="$bytes" -v p="$plain" -v c="$conceal" -v r="$rss" -v n="$FRAMES" \
  -v pc="$plain_cpu" -v cc="$conceal_cpu" 'BEGIN {
  printf "1080p yuv420p, %d frames (%.0f MB), 5%% loss\n", n, b / 1e6
  printf "  unpktize            %.3f s  %6.0f MB/s\n", p, b / p / 1e6
  printf "  unpktize --conceal  %.3f s  %6.0f MB/s  (%.1fx real time at 60 fps)\n", c, b / c / 1e6, n / 60 / c
  if (c > p) printf "  concealment alone   %6.0f MB/s\n", b / (c - p) / 1e6
  printf "  CPU time: unpktize %.3f s, --conceal %.3f s (%.1fx real time at 60 fps)\n", pc, cc, n / 60 / cc
  if (cc > pc) printf "  concealment alone, by CPU time  %6.0f MB/s\n", b / (cc - pc) / 1e6
  printf "  peak RSS --conceal  %.1f MiB (a frame: %.1f MiB)\n", r / 1024, b / n / 1048576
}'
ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=60 -frames:v "$FRAMES" \
  -pix_fmt yuv420p -f yuv4mpegpipe "$WORK/in.y4m"
# All read the stream from a pipe, as in a pipeline (a file would be mapped by raw2ppm).
ours=$(median_seconds "cat $WORK/in.y4m | raw2ppm --frames > /dev/null")
ppm=$(median_seconds "cat $WORK/in.y4m | ffmpeg -nostdin -v error -f yuv4mpegpipe -i - -f image2pipe -vcodec ppm - > /dev/null")
rgb=$(median_seconds "cat $WORK/in.y4m | ffmpeg -nostdin -v error -f yuv4mpegpipe -i - -f rawvideo -pix_fmt rgb24 - > /dev/null")
# converter_cpu CMD...: the median user+system time of CMD alone (not of the cat before
# it, the same for all) reading the Y4M from a pipe, over $RUNS runs.
converter_cpu() {
  local i
  for ((i = 0; i < RUNS; i++)); do
    cat "$WORK/in.y4m" | /usr/bin/time -f '%U %S' -o "$WORK/cpu1" "$@" >/dev/null 2>&1 || true
    tail -n 1 "$WORK/cpu1" | awk '{print $1 + $2}'
  done | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
ours_cpu=$(converter_cpu raw2ppm --frames)
ppm_cpu=$(converter_cpu ffmpeg -nostdin -v error -f yuv4mpegpipe -i - -f image2pipe -vcodec ppm -)
rgb_cpu=$(converter_cpu ffmpeg -nostdin -v error -f yuv4mpegpipe -i - -f rawvideo -pix_fmt rgb24 -)
awk -v o="$ours" -v p="$ppm" -v r="$rgb" -v oc="$ours_cpu" -v pc="$ppm_cpu" -v rc="$rgb_cpu" -v n="$FRAMES" 'BEGIN {
  printf "Y4M 1080p yuv420p, %d frames, from a pipe (medians of the runs; CPU: the converter alone)\n", n
  printf "  raw2ppm --frames            %.3f s (CPU %.3f s)\n", o, oc
  printf "  ffmpeg to a PPM stream      %.3f s (CPU %.3f s)  raw2ppm %.2fx as fast (%.2fx by CPU)\n", p, pc, p / o, pc / oc
  printf "  ffmpeg to rawvideo rgb24    %.3f s (CPU %.3f s)  raw2ppm %.2fx as fast (%.2fx by CPU)\n", r, rc, r / o, rc / oc
}'
