#!/usr/bin/env bash
# make demo: send an image through a bad channel and look at what arrives. Needs Rust and
# nothing else: the sample image and the contact sheet come from demo/sample.rs, every
# other step is one of the tools. Output goes to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
${CARGO:-cargo} build --release --locked --quiet --example sample
export PATH="$PWD/target/release:$PWD/target/release/examples:$PATH"
out=demo-out
rm -rf "$out"
mkdir -p "$out"
W=640 H=400

sample image $W $H | raw2ppm -s ${W}x$H > "$out/original.ppm"
ppm2bmp < "$out/original.ppm" > "$out/original.bmp"
size=$(stat -c %s "$out/original.ppm")
header=$((size - W * H * 3))
# Lost bytes are filled by their offset in the file, so shift the magenta pattern by the
# PPM header's length to keep it on pixel boundaries.
fill=(ff 00 ff)
pattern=""
for i in 0 1 2; do pattern+=${fill[$(((i - header % 3 + 3) % 3))]}; done

echo "== $W x $H image, $size bytes, through a bad channel:"
echo "   3% of the packets lost, in bursts of 3; 3 bits in 100000 flipped in the payloads"
# Packets of 2 KiB, a bit more than a row of pixels, so a lost one shows as a band.
pktize -v -s 2k --name mandelbrot.ppm "$out/original.ppm" 2> "$out/pktize.log" |
    corrupt --loss 3% --burst 3 --ber 3e-5 --payload-only --seed 4 -v > "$out/channel.pk"
cat "$out/pktize.log"

echo
echo "== the receiver: lost bytes in magenta, damaged bytes kept as they came (noise)"
status=0
unpktize --fill "$pattern" --report "$out/report.json" -v < "$out/channel.pk" \
    > "$out/received.ppm" || status=$?
echo "(exit status $status: 1 means finished, but damaged or incomplete. A damaged packet is"
echo " one whose CRC failed: its bytes are kept, and most of them are right.)"
ppm2bmp < "$out/received.ppm" > "$out/received.bmp"

echo
echo "== live view: the image as it fills in, a snapshot every sixth of it"
# The snapshots' not-yet-arrived pixels are dark grey; a lost packet turns magenta when
# the live receiver gives up waiting for it.
unpktize --live --fill "$pattern" < "$out/channel.pk" 2>/dev/null |
    raw2ppm -s ${W}x$H --skip $header --every $((W * H * 3 / 6)) --fill 303030 |
    sample sheet 3 | ppm2bmp > "$out/live.bmp" || true

echo
echo "== a receiver that joins late, a third of the way into the stream"
late_status=0
tail -c +$(($(stat -c %s "$out/channel.pk") / 3)) "$out/channel.pk" |
    unpktize --fill "$pattern" -v > "$out/late.ppm" 2> "$out/late.log" || late_status=$?
sed -n 's/^unpktize: \(bytes:\)/   \1/p' "$out/late.log"
echo "   still a full-size image: the descriptors carry the length and the PPM header"
ppm2bmp < "$out/late.ppm" > "$out/late.bmp"

echo
echo "== the same channel, concealed: lost pixels interpolated from their neighbours"
unpktize --conceal --map "$out/map.ppm" < "$out/channel.pk" > "$out/concealed.ppm" 2>/dev/null || true
ppm2bmp < "$out/concealed.ppm" > "$out/concealed.bmp"
ppm2bmp < "$out/map.ppm" > "$out/map.bmp"
sample sheet 3 < <(cat "$out/received.ppm" "$out/concealed.ppm" "$out/map.ppm") |
    ppm2bmp > "$out/fill-conceal-map.bmp"

echo
echo "== progressive: sent interleaved through bursts of loss, a snapshot every 1/8"
pktize -s 2k --interleave "$out/original.ppm" |
    corrupt --loss 5% --burst 8 --seed 4 |
    unpktize --conceal --every $((size / 8)) 2>/dev/null |
    sample sheet 3 | ppm2bmp > "$out/progressive.bmp" || true

echo
echo "== video: 40 frames of a still scene with a square crossing it, 5% of the packets lost"
CW=$((W / 2)) CH=$((H / 2))
sample image $W $H | sample clip $W $H 40 > "$out/clip.rgb"
pktize -s 1k "$out/clip.rgb" | corrupt --loss 5% --seed 3 > "$out/clip.pk"
frame=20
for mode in fill spatial temporal auto; do
    recv=""
    [ $mode != fill ] && recv="--conceal=$mode --image ${CW}x$CH"
    unpktize --fill ff00ff $recv < "$out/clip.pk" 2>/dev/null |
        raw2ppm -s ${CW}x$CH --frames > "$out/clip-$mode.ppm" || true
    # Frame $frame of each (PPM frames of one size), for the side-by-side picture.
    dd if="$out/clip-$mode.ppm" of="$out/frame-$mode.ppm" status=none \
        bs=$((CW * CH * 3 + ${#CW} + ${#CH} + 9)) skip=$frame count=1
done
cat "$out/frame-fill.ppm" "$out/frame-spatial.ppm" "$out/frame-temporal.ppm" |
    sample sheet 3 | ppm2bmp > "$out/video-fill-spatial-temporal.bmp"
echo "   frame $frame: fill, spatial (in each frame alone), temporal (from the frame before);"
echo "   --conceal alone (auto) picks per region. The clips play with"
echo "   ffplay -f image2pipe -c:v ppm -framerate 10 $out/clip-auto.ppm"

echo
echo "Look at the pictures (any image viewer opens BMP):"
echo "  $out/original.bmp   what was sent"
echo "  $out/received.bmp   what arrived: magenta bands where packets were lost, speckles of"
echo "                       noise where bits flipped (zoom in), everything else exact"
echo "  $out/live.bmp       six live-view snapshots, the image filling in"
echo "  $out/late.bmp       what a receiver that joined late still gets"
echo "  $out/concealed.bmp  the same loss hidden as blur (unpktize --conceal)"
echo "  $out/map.bmp        what became of each pixel: grey intact, vermillion lost, yellow damaged"
echo "  $out/video-fill-spatial-temporal.bmp  one frame of the clip: fill, spatial, temporal"
echo "  $out/fill-conceal-map.bmp  fill, concealment and the map side by side"
echo "  $out/progressive.bmp  interleaved sending: whole from the first snapshot, sharper after"
echo "  $out/report.json    the damage map: every lost and damaged byte range"
