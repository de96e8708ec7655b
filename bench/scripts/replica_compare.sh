#!/usr/bin/env bash
# CMM.Gpu against the same recipe in PyTorch (bench/scripts/cmm_replica.py), side by side in one run (issue 20,
# docs/performance.md). For each d: the same Gaussian data (Datasets.DefaultGaussian(d), 20,000 rows), fits of K1 and K2
# iterations by both ((seconds(K2) - seconds(K1)) / (K2 - K1) is one iteration without the start-up, for both alike), the
# Hessian error of the K2 fits against the closed form (the library's measured by the replica's own code on `cmm encode`
# output), peak resident memory (/usr/bin/time), then `cmm sample --n N` against the replica's `sample` on the K2 models.
# Both use 2 threads: the library's CPU accelerator uses the 2 cores; torch gets --threads 2 with OMP_WAIT_POLICY=PASSIVE.
# Runs alternate between the two, so both see the same machine. Run it alone on the machine: the times are wall-clock.
#
# Usage: bench/scripts/replica_compare.sh OUTDIR [CMM] [DIMS] [SAMPLES]
#   CMM: the cmm executable (default `cmm` on PATH); DIMS default "2 16 64"; SAMPLES (n for sampling) default 1000.
#   K1/K2 per d: 10/40 (d <= 16), 3/10 (d > 16); override with K1=.. K2=.. in the environment.
set -euo pipefail
out=${1:?usage: replica_compare.sh OUTDIR [CMM] [DIMS] [SAMPLES]}
cmm=${2:-cmm}
dims=${3:-2 16 64}
samples=${4:-1000}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
rep="$py $here/cmm_replica.py"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
mkdir -p "$out"
# json FILE EXPR: EXPR over the fields of a cmm --json document or the replica's last JSONL line (json_field.py)
json() { $py "$here/json_field.py" "$@"; }
rss() { awk '/Maximum resident/ {printf "%.0f", $6/1024}' "$1"; }
$py -c "import torch,sys; sys.stdout.write(torch.__config__.show())" > "$out/torch-config.txt"
rows=()
for d in $dims; do
  if [ "$d" -le 16 ]; then k1=${K1:-10}; k2=${K2:-40}; else k1=${K1:-3}; k2=${K2:-10}; fi
  data="$out/g$d.csv"
  [ -f "$data" ] || $rep gaussian-data --dim "$d" --n 20000 --out "$data" > /dev/null
  declare -A ls rs lm rm
  for k in "$k1" "$k2"; do
    /usr/bin/time -v "$cmm" fit --data "$data" --iterations "$k" --checkpoint-every 0 --out "$out/lib-$d-$k.cmm" --json \
      > "$out/lib-$d-$k.json" 2> "$out/lib-$d-$k.err"
    ls[$k]=$(json "$out/lib-$d-$k.json" seconds); lm[$k]=$(rss "$out/lib-$d-$k.err")
    rm -f "$out/rep-$d-$k.jsonl"
    /usr/bin/time -v $rep fit --data "$data" --iterations "$k" --threads 2 --truth-mean "$out/g$d.mean.csv" --truth-cov "$out/g$d.cov.csv" \
      --out "$out/rep-$d-$k.jsonl" > "$out/rep-$d-$k.log" 2> "$out/rep-$d-$k.err"
    rs[$k]=$(json "$out/rep-$d-$k.jsonl" "startup_s + loop_s"); rm[$k]=$(rss "$out/rep-$d-$k.err")
  done
  lper=$($py -c "import sys; a,b,k1,k2=map(float,sys.argv[1:]); print(f'{(b-a)/(k2-k1):.4f}')" "${ls[$k1]}" "${ls[$k2]}" "$k1" "$k2")
  rper=$($py -c "import sys; a,b,k1,k2=map(float,sys.argv[1:]); print(f'{(b-a)/(k2-k1):.4f}')" "${rs[$k1]}" "${rs[$k2]}" "$k1" "$k2")
  "$cmm" encode --model "$out/lib-$d-$k2.cmm" --data "$out/g$d.test.csv" --out "$out/lib-$d-enc.csv" > /dev/null 2>&1 || true
  lerr=$($rep hessian-error --test "$out/g$d.test.csv" --encoded "$out/lib-$d-enc.csv" --truth-cov "$out/g$d.cov.csv" --truth-mean "$out/g$d.mean.csv" | tail -1 | $py -c "import json,sys; print(f\"{100*json.load(sys.stdin)['hessian_error']:.2f}\")")
  rerr=$(json "$out/rep-$d-$k2.jsonl" "f'{100*hessian_error_start:.2f} -> {100*hessian_error_end:.2f}'")
  # sampling: the library on its K2 model; the replica fits K1 iterations and samples (its sampling time alone)
  /usr/bin/time -v "$cmm" sample --model "$out/lib-$d-$k2.cmm" --n "$samples" --out "$out/lib-$d-samples.csv" --json \
    > "$out/lib-$d-sample.json" 2> "$out/lib-$d-sample.err"
  lsps=$(json "$out/lib-$d-sample.json" "f'{$samples / seconds:.1f}'"); lsm=$(rss "$out/lib-$d-sample.err")
  rm -f "$out/rep-$d-sample.jsonl"
  /usr/bin/time -v $rep sample --data "$data" --iterations "$k1" --n "$samples" --threads 2 --out "$out/rep-$d-sample.jsonl" \
    > "$out/rep-$d-sample.log" 2> "$out/rep-$d-sample.err"
  rsps=$(json "$out/rep-$d-sample.jsonl" "f'{samples_per_s:.1f}'"); rsm=$(rss "$out/rep-$d-sample.err")
  solver=$(json "$out/rep-$d-$k2.jsonl" solver)
  ratio() { $py -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
  rows+=("| $d | $solver | $k1 / $k2 | ${ls[$k1]} / ${ls[$k2]} | ${rs[$k1]} / ${rs[$k2]} | $lper | $rper | **$(ratio "$lper" "$rper")** | $lerr | $rerr | $lsps | $rsps | **$(ratio "$rsps" "$lsps")** | ${lm[$k2]} / ${rm[$k2]} | $lsm / $rsm |")
  echo "d=$d: s/iteration library $lper, replica $rper; samples/s library $lsps, replica $rsps" >&2
  unset ls rs lm rm
done
{
  echo "| d | solver | iterations K1 / K2 | library seconds | PyTorch seconds | library s/iteration | PyTorch s/iteration | time / PyTorch | library Hessian error % (K2) | PyTorch Hessian error % (start -> K2) | library samples/s | PyTorch samples/s | sampling time / PyTorch | peak MiB fit (library / PyTorch) | peak MiB sampling |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$out/replica-compare.md"
