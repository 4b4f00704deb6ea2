#!/usr/bin/env bash
# Real photographs for the concealment tests and benchmark, as binary PPM in DIR (default
# target/photos): scikit-image's sample data, from Debian's python3-skimage package.
#
#   astronaut.ppm  512x512  Eileen Collins, NASA: public domain
#   coffee.ppm     600x400  Rachel Michetti: CC0
#   chelsea.ppm    451x300  Stefan van der Walt: CC0 (an odd width: BMP rows get padding)
#
# Licences as scikit-image states them (skimage/data/_fetchers.py). When the package is
# not installed, its .deb is downloaded with apt-get (no dependencies installed) and the
# three PNGs are taken out of it; pngtopnm (netpbm) converts them. Idempotent.
set -euo pipefail
dir=${1:-$(cd "$(dirname "$0")/../.." && pwd)/target/photos}
names=(astronaut coffee chelsea)
done=1
for n in "${names[@]}"; do [ -s "$dir/$n.ppm" ] || done=0; done
[ "$done" = 1 ] && exit 0
mkdir -p "$dir"
src=/usr/lib/python3/dist-packages/skimage/data
if [ ! -f "$src/astronaut.png" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && apt-get download python3-skimage >/dev/null 2>&1); then
    apt-get update -qq >/dev/null
    (cd "$tmp" && apt-get download python3-skimage >/dev/null 2>&1)
  fi
  dpkg-deb -x "$tmp"/python3-skimage_*.deb "$tmp/x"
  src=$tmp/x/usr/lib/python3/dist-packages/skimage/data
fi
for n in "${names[@]}"; do
  pngtopnm "$src/$n.png" 2>/dev/null >"$dir/$n.ppm.part"
  mv "$dir/$n.ppm.part" "$dir/$n.ppm"
done
