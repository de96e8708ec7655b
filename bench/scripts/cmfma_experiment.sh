#!/usr/bin/env bash
# Issue 17's CMFMA experiments (docs/experiments.md section 7): for each target and seed, `cmm fit --energy` with the
# defaults, `cmm eval --energy` against exact samples (or the MALA reference for the posterior), `cmm sample --energy
# --weights` (timed: the cost of samples once fitted), and the MALA baseline at the fit's number of energy evaluations,
# preconditioned by the same Laplace start and plain, then bench/scripts/cmfma_table.py.
# Usage: bench/scripts/cmfma_experiment.sh OUTDIR [CMM] [SEEDS] [TARGETS]
#   CMM default `cmm`; SEEDS default "1 2 3"; TARGETS default "gauss-d2 gauss-d5 gauss-d10 mix2 ring8 banana10 funnel10 logreg".
# Environment: FIT_ARGS (extra `cmm fit` options, e.g. "--target-weight 0.5"); SAMPLES (default 10000); NO_TABLE=1 skips
# the table (to run targets one by one and make the table once).
set -euo pipefail
out=${1:?usage: cmfma_experiment.sh OUTDIR [CMM] [SEEDS] [TARGETS]}
cmm=${2:-cmm}
seeds=${3:-1 2 3}
targets=${4:-gauss-d2 gauss-d5 gauss-d10 mix2 ring8 banana10 funnel10 logreg}
samples=${SAMPLES:-10000}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/targets"
/usr/bin/python3 "$here/cmfma_targets.py" "$out"
read -r -a fit_args <<< "${FIT_ARGS:-}"
timed() { local file=$1; shift; /usr/bin/time -f %e -o "$file" "$@"; }
if [[ " $targets " == *" logreg "* && ! -f "$out/logreg-reference.npy" ]]; then
  # The posterior has no exact sampler: a long preconditioned MALA run is the reference (32 x 10,000 draws).
  "$cmm" mala --energy "$out/targets/logreg.json" --chains 32 --steps 10000 --burn-in 2000 --seed 1000 \
    --out "$out/logreg-reference.npy" --json > "$out/logreg-reference.json"
fi
for seed in $seeds; do
  for t in $targets; do
    name=$t-s$seed
    [ -f "$out/$name.cmm" ] || timed "$out/$name.fit.time" \
      "$cmm" fit --energy "$out/targets/$t.json" --seed "$seed" "${fit_args[@]}" --out "$out/$name.cmm" --json > "$out/$name.fit.json" 2> "$out/$name.fit.log"
    reference=()
    [ "$t" = logreg ] && reference=(--data "$out/logreg-reference.npy" --n 4000)
    "$cmm" eval --model "$out/$name.cmm" --energy "$out/targets/$t.json" "${reference[@]}" --seed "$seed" --json > "$out/$name.eval.json" 2> /dev/null
    timed "$out/$name.sample.time" "$cmm" sample --model "$out/$name.cmm" --n "$samples" --seed "$seed" --out "$out/$name.samples.csv" \
      --energy "$out/targets/$t.json" --weights "$out/$name.weights.csv" > /dev/null 2>&1
    evaluations=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['diagnostics']['fit_energy_evaluations'])" "$out/$name.fit.json")
    "$cmm" mala --energy "$out/targets/$t.json" --evaluations "$evaluations" --seed "$seed" --out "$out/$name.mala.npy" --json > "$out/$name.mala.json" 2> /dev/null
    "$cmm" mala --energy "$out/targets/$t.json" --evaluations "$evaluations" --seed "$seed" --no-precondition --json > "$out/$name.mala-plain.json" 2> /dev/null
  done
done
[ -n "${NO_TABLE:-}" ] || /usr/bin/python3 "$here/cmfma_table.py" "$out" "$seeds" "$targets"
