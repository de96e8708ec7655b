#!/usr/bin/env bash
# Seconds to a given quality (issue 20, docs/performance.md): for each iteration count K, a whole default fit of K
# iterations by the library and by the PyTorch replica (bench/scripts/cmm_replica.py) on the same Gaussian data, the wall
# time of each (the fit's own `seconds`; the replica's startup + loop) and the Hessian error of the fitted w against the
# closed form (the library's measured by the replica's code on `cmm encode` output, as replica_compare.sh does). The
# learning-rate schedule spans the whole fit, so a fit of K iterations is not the first K iterations of a longer one: the
# time to the target is that of the shortest fit in the list that reaches it. Run it alone on the machine.
# Usage: bench/scripts/time_to_quality.sh OUTDIR [CMM] [D] [KS] [TARGET_PERCENT]
#   defaults: CMM `cmm` on PATH, D 64, KS "25 50 100 200 400", TARGET_PERCENT 2
set -euo pipefail
out=${1:?usage: time_to_quality.sh OUTDIR [CMM] [D] [KS] [TARGET_PERCENT]}
cmm=${2:-cmm}
d=${3:-64}
ks=${4:-25 50 100 200 400}
target=${5:-2}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
rep="$py $here/cmm_replica.py"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
mkdir -p "$out"
data="$out/g$d.csv"
[ -f "$data" ] || $rep gaussian-data --dim "$d" --n 20000 --out "$data" > /dev/null
last() { $py "$here/json_field.py" "$@"; }
rows=()
for k in $ks; do
  "$cmm" fit --data "$data" --iterations "$k" --checkpoint-every 0 --out "$out/lib-$k.cmm" --json > "$out/lib-$k.json" 2> /dev/null
  ls=$(last "$out/lib-$k.json" seconds)
  "$cmm" encode --model "$out/lib-$k.cmm" --data "$out/g$d.test.csv" --out "$out/lib-$k-enc.csv" > /dev/null 2>&1
  le=$($rep hessian-error --test "$out/g$d.test.csv" --encoded "$out/lib-$k-enc.csv" --truth-cov "$out/g$d.cov.csv" --truth-mean "$out/g$d.mean.csv" | tail -1 | $py -c "import json,sys; print(f\"{100*json.load(sys.stdin)['hessian_error']:.2f}\")")
  rm -f "$out/rep-$k.jsonl"
  $rep fit --data "$data" --iterations "$k" --threads 2 --truth-mean "$out/g$d.mean.csv" --truth-cov "$out/g$d.cov.csv" --out "$out/rep-$k.jsonl" > /dev/null 2>&1
  rs=$(last "$out/rep-$k.jsonl" "f'{startup_s + loop_s:.2f}'")
  re=$(last "$out/rep-$k.jsonl" "f'{100*hessian_error_end:.2f}'")
  rows+=("| $d | $k | $(printf '%.2f' "$ls") | $le | $rs | $re |")
  echo "K=$k: library ${ls} s, ${le} %; replica ${rs} s, ${re} %" >&2
done
{
  echo "| d | iterations K | library seconds | library Hessian error % | PyTorch seconds | PyTorch Hessian error % |"
  echo "|---|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "target: Hessian error <= $target %"
} | tee "$out/time-to-quality.md"
