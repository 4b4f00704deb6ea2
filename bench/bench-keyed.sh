#!/usr/bin/env bash
# The cost of --key (issue 20): pktize | unpktize with and without a key, beside cat | cat,
# at 1 KiB (the default) and 8 KiB payloads, and each side alone. The commands take turns
# (one run of each, RUNS times), so a load that comes and goes falls on all of them alike;
# medians of wall time and of CPU time (user + sys of every process of the command).
# Goal: keyed throughput at least 0.70x the unkeyed one at 1 KiB. And (issue 32) the
# encrypted spine (pktize --encrypt --key | unpktize --key) at least 0.70x the unkeyed one
# at 1 KiB and 8 KiB, --key --interleave within 10% of --key alone, and peak RSS. Beside
# them, the cipher alone (bench/aead.rs: AES-256-GCM sealing and opening SIZE_MIB of
# payloads in cache), and the most encrypted/unkeyed CPU ratio it leaves:
# plain / (plain + seal + open).
source "$(dirname "$0")/lib.sh"
(cd "$(dirname "$0")/.." && cargo build --release --quiet --example bench-aead)
aead=$(cd "$(dirname "$0")/.." && pwd)/target/release/examples/bench-aead

SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-7}
data=$WORK/data.bin
head -c $((SIZE_MIB << 20)) /dev/urandom > "$data"
head -c 32 /dev/urandom > "$WORK/key"
cd "$WORK"

# interleaved NAME=CMD...: RUNS turns of every command; then per command the median wall and
# CPU seconds, as "NAME WALL CPU" lines.
interleaved() {
  local i spec
  for ((i = 0; i < RUNS; i++)); do
    for spec in "$@"; do
      local name=${spec%%=*} cmd=${spec#*=} t0 t1
      t0=$(date +%s.%N)
      /usr/bin/time -f '%U %S' -o "$WORK/cpu" bash -o pipefail -c "$cmd" >/dev/null
      t1=$(date +%s.%N)
      echo "$name $(echo "$t1 - $t0" | bc -l) $(awk '{print $1 + $2}' "$WORK/cpu")" >> "$WORK/times"
    done
  done
  for spec in "$@"; do
    local name=${spec%%=*}
    echo "$name $(awk -v n="$name" '$1 == n {print $2}' "$WORK/times" | sort -g |
      awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') $(awk -v n="$name" '$1 == n {print $3}' \
      "$WORK/times" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
  done
  rm -f "$WORK/times"
}

echo "$SIZE_MIB MiB, medians of $RUNS interleaved runs"
for size in 1k 8k; do
  bytes=$(( ${size%k} << 10 ))
  pktize -s $size --key key < data.bin > keyed.pk
  pktize -s $size --key key --encrypt < data.bin > encrypted.pk
  pktize -s $size < data.bin > plain.pk
  pktize -s $size --key key --interleave < data.bin > interleaved.pk
  interleaved \
    "cat=cat data.bin | cat > /dev/null" \
    "plain=pktize -s $size < data.bin | unpktize > /dev/null" \
    "keyed=pktize -s $size --key key < data.bin | unpktize --key key > /dev/null" \
    "encrypted=pktize -s $size --key key --encrypt < data.bin | unpktize --key key > /dev/null" \
    "keyed-interleaved=pktize -s $size --key key --interleave < data.bin | unpktize --key key > /dev/null" \
    "plain-interleaved=pktize -s $size --interleave < data.bin | unpktize > /dev/null" \
    "send-plain=pktize -s $size < data.bin > /dev/null" \
    "send-keyed=pktize -s $size --key key < data.bin > /dev/null" \
    "recv-plain=cat plain.pk | unpktize > /dev/null" \
    "recv-keyed=cat keyed.pk | unpktize --key key > /dev/null" \
    "send-encrypted=pktize -s $size --key key --encrypt < data.bin > /dev/null" \
    "recv-encrypted=cat encrypted.pk | unpktize --key key > /dev/null" \
    "aead-seal=$aead seal $bytes $SIZE_MIB" \
    "aead-open=$aead open $bytes $SIZE_MIB" > "$WORK/medians"
  awk -v size=$size -v mib=$SIZE_MIB '
    { wall[$1] = $2; cpu[$1] = $3 }
    END {
      printf "payload %s:                        wall s   cpu s\n", size
      n = split("cat plain keyed encrypted keyed-interleaved plain-interleaved send-plain send-keyed send-encrypted recv-plain recv-keyed recv-encrypted", order, " ")
      for (i = 1; i <= n; i++)
        printf "  %-30s %8.3f %7.3f\n", order[i], wall[order[i]], cpu[order[i]]
      printf "  keyed/unkeyed throughput: %.2fx (cpu %.2fx); keyed vs cat|cat: %.2fx\n",
        wall["plain"] / wall["keyed"], cpu["plain"] / cpu["keyed"], wall["cat"] / wall["keyed"]
      printf "  encrypted/unkeyed throughput: %.2fx (cpu %.2fx); encrypted/keyed: %.2fx\n",
        wall["plain"] / wall["encrypted"], cpu["plain"] / cpu["encrypted"], wall["keyed"] / wall["encrypted"]
      printf "  keyed --interleave/keyed throughput: %.2fx (cpu %.2fx); unkeyed --interleave/unkeyed: %.2fx (cpu %.2fx)\n",
        wall["keyed"] / wall["keyed-interleaved"], cpu["keyed"] / cpu["keyed-interleaved"],
        wall["plain"] / wall["plain-interleaved"], cpu["plain"] / cpu["plain-interleaved"]
      printf "  AES-256-GCM alone (cpu): seal %.0f MB/s, open %.0f MB/s; most encrypted/unkeyed cpu ratio it leaves: %.2fx\n",
        mib * 1.048576 / cpu["aead-seal"], mib * 1.048576 / cpu["aead-open"],
        cpu["plain"] / (cpu["plain"] + cpu["aead-seal"] + cpu["aead-open"])
    }' "$WORK/medians"
  printf "  peak RSS KiB: unpktize --key %s, encrypted %s, interleaved %s; pktize --key %s, encrypted %s\n" \
    "$(peak_rss_kib "cat keyed.pk" unpktize --key key)" \
    "$(peak_rss_kib "cat encrypted.pk" unpktize --key key)" \
    "$(peak_rss_kib "cat interleaved.pk" unpktize --key key)" \
    "$(peak_rss_kib "cat data.bin" pktize -s $size --key key)" \
    "$(peak_rss_kib "cat data.bin" pktize -s $size --key key --encrypt)"
done
