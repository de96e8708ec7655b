#!/usr/bin/env bash
# Time per fitting iteration against d (docs/experiments.md section 6, docs/performance.md).
# Usage: bench/scripts/fit_time_vs_d.sh OUTDIR [CMM]   (CMM: the cmm executable, default `cmm` on PATH)
# Each data set is fitted twice with the defaults, for K1 and K2 iterations; (seconds(K2) - seconds(K1)) / (K2 - K1) is
# the time of one iteration without the start-up (data reading, Gaussian start, kernel compilation). The data are the
# Gaussian data set at d = 2 and 16, the 8x8 digits (d = 64) and the 14x14 and 28x28 proxies of bench/scripts/digits_data.py
# (d = 196, 784), all with 1,437 rows. Run it alone on the machine: the times are wall-clock.
set -euo pipefail
out=${1:?usage: fit_time_vs_d.sh OUTDIR [CMM]}
cmm=${2:-cmm}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
[ -f "$out/data/proxy28-images-idx3-ubyte" ] || /usr/bin/python3 "$here/digits_data.py" "$out/data" > "$out/data.log"
rows=()
run() { # name d k1 k2 args...
  local name=$1 d=$2 k1=$3 k2=$4; shift 4
  local s=()
  for k in "$k1" "$k2"; do
    "$cmm" fit "$@" --iterations "$k" --checkpoint-every 0 --out "$out/$name-$k.cmm" --json > "$out/$name-$k.json" 2> "$out/$name-$k.err"
    s+=("$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['seconds'])" "$out/$name-$k.json")")
  done
  local per
  per=$(/usr/bin/python3 -c "import sys; a,b,k1,k2=map(float,sys.argv[1:]); print(f'{(b-a)/(k2-k1):.3f}')" "${s[0]}" "${s[1]}" "$k1" "$k2")
  rows+=("| $name | $d | $k1 / $k2 | ${s[0]} / ${s[1]} | $per |")
  echo "$name d=$d: $per s per iteration" >&2
}
run gaussian 2 20 60 --dataset gaussian --dim 2 --n 1437
run gaussian 16 20 60 --dataset gaussian --dim 16 --n 1437
run digits 64 10 30 --data "$out/data/digits-train.csv"
run proxy14 196 4 10 --data "$out/data/proxy14-images-idx3-ubyte"
run proxy28 784 2 4 --data "$out/data/proxy28-images-idx3-ubyte"
{
  echo "| data | d | iterations K1 / K2 | seconds | seconds per iteration |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$out/fit-time-vs-d.md"
