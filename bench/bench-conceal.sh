#!/usr/bin/env bash
# Concealment (issue 18): its speed at 10% loss (it must keep up with a live stream: at
# least 200 MB/s of image data), and the PSNR table on a real photograph (loss rate x mean
# burst length x {fill, conceal}); bench/psnr-pipeline.sh the same through the programs,
# with an --interleave column.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/photos/fetch.sh
cargo build --release --quiet --example bench-conceal
for photo in astronaut chelsea; do
  echo "-- $photo"
  target/release/examples/bench-conceal "target/photos/$photo.ppm"
done
