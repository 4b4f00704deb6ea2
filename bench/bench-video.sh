#!/usr/bin/env bash
# Video (issue 31), same run, release build:
#  - concealment of 1080p yuv420p frames at 5% loss: `unpktize --conceal` beside plain
#    `unpktize` on the same capture (a mapped file, to /dev/null), the frame data's rate,
#    the concealment's own rate (from the difference) and peak RSS; the goal is 4x real
#    time at 60 frames a second (about 750 MB/s of frame data), within 16 MiB plus a frame;
#  - raw2ppm on Y4M beside ffmpeg's own conversion to a PPM stream (yuv420p, 720p).
source "$(dirname "$0")/lib.sh"
FRAMES=${FRAMES:-60}
ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=60 -frames:v "$FRAMES" \
  -f rawvideo -pix_fmt yuv420p "$WORK/hd.yuv"
bytes=$(stat -c %s "$WORK/hd.yuv")
pktize "$WORK/hd.yuv" | corrupt --loss 5% --seed 1 > "$WORK/hd.pk"
plain=$(median_seconds "unpktize < $WORK/hd.pk > /dev/null || true")
conceal=$(median_seconds "unpktize --conceal < $WORK/hd.pk --image 1920x1080:yuv420p > /dev/null || true")
rss=$(peak_rss_kib "unpktize --conceal --image 1920x1080:yuv420p < $WORK/hd.pk > /dev/null")
awk -v b="$bytes" -v p="$plain" -v c="$conceal" -v r="$rss" -v n="$FRAMES" 'BEGIN {
  printf "1080p yuv420p, %d frames (%.0f MB), 5%% loss\n", n, b / 1e6
  printf "  unpktize            %.3f s  %6.0f MB/s\n", p, b / p / 1e6
  printf "  unpktize --conceal  %.3f s  %6.0f MB/s  (%.1fx real time at 60 fps)\n", c, b / c / 1e6, n / 60 / c
  if (c > p) printf "  concealment alone   %6.0f MB/s\n", b / (c - p) / 1e6
  printf "  peak RSS --conceal  %.1f MiB (a frame: %.1f MiB)\n", r / 1024, b / n / 1048576
}'
ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1280x720:rate=25 -frames:v "$FRAMES" \
  -pix_fmt yuv420p -f yuv4mpegpipe "$WORK/in.y4m"
ours=$(median_seconds "raw2ppm --frames $WORK/in.y4m > /dev/null")
theirs=$(median_seconds "ffmpeg -nostdin -v error -i $WORK/in.y4m -f image2pipe -c:v ppm - > /dev/null")
awk -v o="$ours" -v t="$theirs" -v n="$FRAMES" 'BEGIN {
  printf "Y4M 720p yuv420p, %d frames, to a PPM stream\n", n
  printf "  raw2ppm --frames    %.3f s\n  ffmpeg              %.3f s  (raw2ppm %.1fx as fast)\n", o, t, t / o
}'
