#!/usr/bin/env bash
# How the cost of a default fit grows with the data size, the particles (and batch), the network's width and d, and how
# sampling time grows with n (issue 20, docs/performance.md). Every fit row is two fits of K1 and K2 iterations of the
# Gaussian data set; (seconds(K2) - seconds(K1)) / (K2 - K1) is one iteration without the start-up. Run it alone on the
# machine: the times are wall-clock.
# Usage: bench/scripts/fit_cost_growth.sh OUTDIR [CMM]   (CMM: the cmm executable, default `cmm` on PATH)
set -euo pipefail
out=${1:?usage: fit_cost_growth.sh OUTDIR [CMM]}
cmm=${2:-cmm}
k1=${K1:-10}
k2=${K2:-30}
mkdir -p "$out"
py=/usr/bin/python3
seconds() { $py -c "import json,sys; print(json.load(open(sys.argv[1]))['seconds'])" "$1"; }
rows=()
fit() { # label args...
  local label=$1; shift
  local s=()
  for k in "$k1" "$k2"; do
    "$cmm" fit --dataset gaussian "$@" --iterations "$k" --checkpoint-every 0 --out "$out/m.cmm" --json > "$out/f.json" 2> /dev/null
    s+=("$(seconds "$out/f.json")")
  done
  local per
  per=$($py -c "import sys; a,b,k1,k2=map(float,sys.argv[1:]); print(f'{(b-a)/(k2-k1):.4f}')" "${s[0]}" "${s[1]}" "$k1" "$k2")
  rows+=("| fit | $label | $per |")
  echo "$label: $per s per iteration" >&2
}
for n in 2000 20000 200000; do fit "data size $n (d = 2)" --dim 2 --n "$n"; done
for p in 256 512 1024 2048; do fit "particles = batch = $p (d = 2)" --dim 2 --n 20000 --particles "$p" --batch "$p"; done
for h in 16,16 32,32 64,64 128,128 32,32,32; do fit "hidden $h (d = 2)" --dim 2 --n 20000 --hidden "$h"; done
for d in 2 4 8 16 32 64; do fit "d = $d" --dim "$d" --n 20000; done
"$cmm" fit --dataset gaussian --dim 2 --n 20000 --iterations "$k2" --checkpoint-every 0 --out "$out/s.cmm" > /dev/null 2>&1
for n in 250 1000 4000; do
  "$cmm" sample --model "$out/s.cmm" --n "$n" --out "$out/s.csv" --json > "$out/s.json" 2> /dev/null
  s=$(seconds "$out/s.json")
  rows+=("| sample (d = 2) | n = $n | $s s, $($py -c "print(f'{$n / $s:.1f}')") samples/s |")
  echo "sample n=$n: $s s" >&2
done
{
  echo "| what | setting | seconds per iteration (fit) or for the run (sample) |"
  echo "|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$out/fit-cost-growth.md"
