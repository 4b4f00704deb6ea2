#!/usr/bin/env bash
# The fountain table of the README (issue 30): packets the sender sent until the receiver
# stopped by itself with its file whole, over the packets of one plain pass (`pktize f`),
# against 1/(1-p), for `pktize --fountain` and, on the small file, the carousel
# (`pktize --repeat 0`); random loss and Gilbert-Elliott bursts (mean 64 packets); mean and
# worst over SEEDS seeds (default 3). Exact, not estimated: corrupt's log names every packet
# it dropped, so the packets sent before the receiver's last are the ones it took plus
# those dropped among them. The last column is the worst seed's packets taken over a plain
# pass, less one: what it sent beyond 1/(1-p) for the loss the channel really dealt it
# (a burst channel's realised loss strays far from its mean on a small file).
# Usage: fountain-table.sh [SEEDS] [SIZES_MIB...]   (default sizes: 1 64)
source "$(dirname "$0")/lib.sh"
SEEDS=${1:-3}
shift || true
SIZES=("${@:-1 64}")
read -r -a SIZES <<< "${SIZES[*]}"

# sent_share MODE SIZE LOSS BURST SEED: packets sent until the receiver stopped, over a
# plain pass.
sent_share() {
  local mode=$1 f=$WORK/f$2 loss=$3 burst=$4 seed=$5 args
  case $mode in
    fountain) args="--fountain" ;;
    carousel) args="--repeat 0" ;;
  esac
  # Random loss without --burst: a burst length of exactly 1 would never lose two in a row.
  local bursts=""
  [ "$burst" -gt 1 ] && bursts="--burst $burst"
  # shellcheck disable=SC2086
  pktize $args "$f" 2>/dev/null |
    corrupt --loss "$loss" $bursts --seed "$seed" --log "$WORK/ev" 2>/dev/null |
    unpktize -o "$WORK/got" --report "$WORK/r.json" || true
  cmp -s "$WORK/got" "$f" || { echo "$mode $2 MiB $loss/$burst seed $seed: not whole" >&2; exit 1; }
  python3 - "$WORK/r.json" "$WORK/ev" "$(cat "$WORK/plain$2")" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["packets"]
not_arrivals = {"truncated", "lost", "recovered", "reordered", "late_written"}
taken = sum(v for k, v in c.items() if k not in not_arrivals)
drops = sorted({int(l.split("\t")[0]) for l in open(sys.argv[2])
                if not l.startswith("#") and l.split("\t")[3] == "drop"})
# The receiver took its last packet at the index where arrivals reach `taken`.
sent, arrived, d = 0, 0, 0
while arrived < taken:
    if d < len(drops) and drops[d] == sent:
        d += 1
    else:
        arrived += 1
    sent += 1
plain = int(sys.argv[3])
print(f"{sent / plain} {taken / plain}")
EOF
}

row() { # MODE SIZE LOSS BURST
  local s shares=()
  for ((s = 1; s <= SEEDS; s++)); do shares+=($(sent_share "$1" "$2" "$3" "$4" "$s")); done
  python3 -c "
import sys
v = [float(x) for x in sys.argv[1:]]
sent, taken = v[0::2], v[1::2]
goal = 1 / (1 - ${3%\%} / 100)
kind = 'random' if $4 == 1 else 'bursts of $4'
print(f'| $1 | $2 MiB | $3, {kind} | {goal:.3f} | {sum(sent)/len(sent):.3f} | {max(sent):.3f} | {100 * (max(taken) - 1):+.1f}% |')
" "${shares[@]}"
}

for size in "${SIZES[@]}"; do
  head -c $((size << 20)) /dev/urandom > "$WORK/f$size"
  # Packets of one plain pass: data and descriptors.
  pktize "$WORK/f$size" | unpktize -o /dev/null --report "$WORK/plain.json" || true
  python3 -c "import json; c = json.load(open('$WORK/plain.json'))['packets']; print(c['intact'] + c['descriptors'])" > "$WORK/plain$size"
done
echo "| sender | file | loss | 1/(1-p) | sent (mean) | sent (worst) | worst over the limit |"
echo "|---|---|---|---|---|---|---|"
for size in "${SIZES[@]}"; do
  for loss in 1% 5% 20% 50%; do row fountain "$size" "$loss" 1; done
  for loss in 5% 20%; do row fountain "$size" "$loss" 64; done
done
for loss in 1% 5% 20% 50%; do row carousel "${SIZES[0]}" "$loss" 1; done
