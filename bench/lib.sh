# Shared helpers for the benchmark scripts (sourced, not run).
# Timings are medians of several runs; every figure is printed beside a baseline measured in
# the same run, because absolute numbers on a shared machine mean little.
set -euo pipefail

BIN=${BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/release}
export PATH="$BIN:$PATH"
RUNS=${RUNS:-5}
WORK=${WORK:-$(mktemp -d /tmp/pktools-bench.XXXXXX)}
trap 'rm -rf "$WORK"' EXIT

# median_seconds CMD: run CMD (a bash string) $RUNS times, print the median wall time in s.
median_seconds() {
  local cmd=$1 times=() i
  for ((i = 0; i < RUNS; i++)); do
    local t0 t1
    t0=$(date +%s.%N)
    bash -o pipefail -c "$cmd" >/dev/null
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# peak_rss_kib FEED CMD...: peak resident set size, in KiB, of CMD alone, with the output
# of the shell command FEED on its stdin (use "" for none) and its stdout discarded.
# peak_rss_kib SCRIPT: the largest peak RSS of the processes of a shell command line.
peak_rss_kib() {
  if [ $# -eq 1 ]; then
    /usr/bin/time -f '%M' -o "$WORK/rss" bash -c "$1" >/dev/null 2>&1 || true
  else
    local feed=$1
    shift
    if [ -n "$feed" ]; then
      bash -c "$feed" | /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >/dev/null 2>&1 || true
    else
      /usr/bin/time -f '%M' -o "$WORK/rss" "$@" </dev/null >/dev/null 2>&1 || true
    fi
  fi
  tail -n 1 "$WORK/rss"
}

# row NAME SECONDS BYTES BASE_SECONDS: one result line with throughput and ratio to baseline.
row() {
  local name=$1 s=$2 bytes=$3 base=$4
  awk -v n="$name" -v s="$s" -v b="$bytes" -v base="$base" 'BEGIN {
    printf "  %-44s %8.3f s %9.1f MB/s %7.2fx baseline\n", n, s, b / s / 1e6, base / s }'
}

# drop_packets RATE SEED: a lossy channel on stdin -> stdout; each packet (data or parity)
# is dropped with probability RATE, from a PRNG seeded with SEED (reproducible).
drop_packets() {
  python3 -c '
import random, sys
rate, rng = float(sys.argv[1]), random.Random(int(sys.argv[2]))
buf = sys.stdin.buffer.read()
out = sys.stdout.buffer
i, keep = 0, []
while i < len(buf):
    n = int.from_bytes(buf[i + 4:i + 6], "big")
    if rng.random() >= rate:
        keep.append(buf[i:i + 32 + n])
    i += 32 + n
out.write(b"".join(keep))
' "$1" "$2"
}
