#!/usr/bin/env bash
# The loopback UDP comparison of the README (issue 30): a SIZE MiB file (default 256) sent
# over loopback UDP with a share of the data datagrams dropped at random (iptables'
# statistic match on the data port, in a network namespace of its own per run, so the
# return channels of the others work), by
#   pktize --fountain --udp -> unpktize --udp -o   (one way: no return channel)
#   udp-sender -> udp-receiver                     (udpcast, with its return channel)
#   uftp -> uftpd                                  (UFTP, with its return channel)
# Wall time from the sender's start until the receiver has the whole file (checked with
# cmp), and the bytes of every datagram sent to the data port (dropped or not, IP and UDP
# headers included) over the file's size. Medians of RUNS runs (default 3), interleaved.
# The others are skipped, and said to be, when udpcast or uftp is not installed
# (apt-get install udpcast uftp iptables).
# Usage: udp-table.sh [SIZE_MIB] [LOSSES...]   (default losses: 1 5 20, in percent)
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
SIZE=${1:-256}
shift || true
LOSSES=("${@:-1 5 20}")
read -r -a LOSSES <<< "${LOSSES[*]}"
# The fountain sender's rate (bytes per second; pktize --rate).
FOUNTAIN_RATE=${FOUNTAIN_RATE:-}
# UFTP's rate in Kbps (its -R): fixed, as it has no congestion control by default.
UFTP_RATE=${UFTP_RATE:-400000}

for tool in unshare iptables ip; do
  command -v "$tool" >/dev/null || { echo "udp-table: $tool is not installed: skipped"; exit 0; }
done
f=$WORK/file
head -c $((SIZE << 20)) /dev/urandom > "$f"

# in_namespace LOSS PORT SCRIPT: run SCRIPT in a new network namespace whose loopback drops
# LOSS percent of the datagrams to UDP port PORT; print "SECONDS BYTES" (wall time of the
# script, bytes to PORT) or "failed".
in_namespace() {
  unshare -n bash -c '
set -eu
loss=$1 port=$2 script=$3
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
iptables -A INPUT -p udp --dport "$port" -m statistic --mode random \
  --probability "$(echo "scale=4; $loss / 100" | bc)" -j DROP
iptables -A INPUT -p udp --dport "$port" -j ACCEPT
t0=$(date +%s.%N)
if bash -c "$script" >/dev/null 2>&1; then
  t1=$(date +%s.%N)
  bytes=$(iptables -L INPUT -v -n -x | awk "/dpt:$port/ {b += \$2} END {print b}")
  echo "$(echo "$t1 - $t0" | bc) $bytes"
else
  echo failed
fi' _ "$@"
}

# wait_port PORT: until a UDP socket is bound to PORT.
WAIT='wait_port() { local p; p=$(printf %04X "$1"); for _ in $(seq 2000); do grep -q ":$p " /proc/net/udp && return 0; sleep 0.01; done; return 1; }'

fountain() {
  local rate=""
  [ -n "$FOUNTAIN_RATE" ] && rate="--rate $FOUNTAIN_RATE"
  in_namespace "$1" 9700 "$WAIT
rm -f $WORK/got
unpktize --udp 127.0.0.1:9700 --idle 120 -o $WORK/got &
rx=\$!
wait_port 9700
pktize --udp 127.0.0.1:9700 --fountain $rate $f &
tx=\$!
wait \$rx
kill \$tx 2>/dev/null || true
cmp -s $f $WORK/got"
}

# udpcast: data to the port base (9000), the receivers' answers to 9001.
udpcast() {
  in_namespace "$1" 9000 "$WAIT
rm -f $WORK/got
udp-receiver --interface lo --portbase 9000 --nokbd --file $WORK/got &
rx=\$!
wait_port 9000
udp-sender --interface lo --portbase 9000 --nokbd --min-receivers 1 --file $f
wait \$rx
cmp -s $f $WORK/got"
}

# UFTP: data to the clients' port (1044), their answers to the server's (1045), unicast.
uftp_() {
  in_namespace "$1" 1044 "$WAIT
rm -rf $WORK/dest; mkdir $WORK/dest
uftpd -d -D $WORK/dest -p 1044 -I lo 2>/dev/null &
rx=\$!
wait_port 1044
uftp -M 127.0.0.1 -I 127.0.0.1 -p 1044 -u 1045 -R $UFTP_RATE -Y none $f
kill \$rx
cmp -s $f $WORK/dest/file"
}

tools=(fountain)
command -v udp-sender >/dev/null && command -v udp-receiver >/dev/null && tools+=(udpcast)
command -v uftp >/dev/null && command -v uftpd >/dev/null && tools+=(uftp_)
[ "${#tools[@]}" -eq 3 ] || echo "udp-table: udpcast or uftp is not installed: compared with fewer"
# TOOLS="fountain udpcast uftp_" runs only those (a sweep of FOUNTAIN_RATE, say).
[ -n "${TOOLS:-}" ] && read -r -a tools <<< "$TOOLS"

echo "$SIZE MiB over loopback UDP, medians of $RUNS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "| loss | sender | return channel | seconds | sent / file | failed runs |"
echo "|---|---|---|---|---|---|"
for loss in "${LOSSES[@]}"; do
  declare -A secs=() sent=() fails=()
  for ((i = 0; i < RUNS; i++)); do
    for t in "${tools[@]}"; do
      read -r s b <<< "$($t "$loss")"
      if [ "$s" = failed ] || [ -z "${b:-}" ]; then
        fails[$t]=$((${fails[$t]:-0} + 1))
      else
        secs[$t]+="$s "
        sent[$t]+="$(echo "scale=4; $b / ($SIZE * 1048576)" | bc) "
      fi
    done
  done
  for t in "${tools[@]}"; do
    case $t in
      fountain) name="pktize --fountain --udp${FOUNTAIN_RATE:+ --rate $FOUNTAIN_RATE}" back=none ;;
      udpcast) name="udp-sender (udpcast)" back=yes ;;
      uftp_) name="uftp -R $UFTP_RATE (UFTP)" back=yes ;;
    esac
    med() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {if (NR) printf "%.2f", a[int((NR+1)/2)]; else printf "-"}'; }
    echo "| $loss% | $name | $back | $(med "${secs[$t]:-}") | $(med "${sent[$t]:-}") | ${fails[$t]:-0} |"
  done
  unset secs sent fails
done
