#!/usr/bin/env bash
# The digits experiments of docs/experiments.md section 6: CMM and the MM baseline fitted to 1,437 training digits with
# the defaults, seeds 1-3, each scored against the 360 held-out digits (k-NN precision and recall, classifier two-sample
# test, class balance, near-copies), the Gaussian baseline scored the same way, and the lower halves of held-out digits
# inpainted and labelled by the same classifier.
# Usage: bench/scripts/digits_experiment.sh OUTDIR [CMM] [SEEDS]   (CMM default `cmm`; SEEDS default "1 2 3")
# Environment: ITERATIONS (default: cmm's default); FIT_ARGS, further `cmm fit` options appended to each fit (e.g.
# "--hidden 64,64", word-split); INPAINT_NOISE, the observation noise of `cmm inpaint` (default 1); METHODS (default "cmm mm"). The first 100 held-out
# digits are inpainted, 3 completions each. The best CMM setting measured (docs/experiments.md section 6) is
# FIT_ARGS="--bounds data" with ITERATIONS=2400 and INPAINT_NOISE=2; the script's own defaults stay the library's.
set -euo pipefail
out=${1:?usage: digits_experiment.sh OUTDIR [CMM] [SEEDS]}
cmm=${2:-cmm}
seeds=${3:-1 2 3}
here=$(cd "$(dirname "$0")" && pwd)
data=$out/data
mkdir -p "$out"
[ -f "$data/digits-train.csv" ] || /usr/bin/python3 "$here/digits_data.py" "$data" > "$out/data.log"
iters=()
[ -n "${ITERATIONS:-}" ] && iters=(--iterations "$ITERATIONS")
read -r -a fitargs <<< "${FIT_ARGS:-}"
noise=${INPAINT_NOISE:-1}
rows=100 # the Gaussian baseline's inpainting (digits_data.py) is of the first 100 held-out digits
head -n "$rows" "$data/digits-test.csv" > "$out/inpaint-input.csv"
head -n "$rows" "$data/digits-test-labels.csv" > "$out/inpaint-labels.csv"
labelled=(--data "$data/digits-test.csv" --labels "$data/digits-test-labels.csv" --train "$data/digits-train.csv" --train-labels "$data/digits-train-labels.csv")
for seed in $seeds; do
  "$cmm" eval --samples "$data/gaussian-s$seed.csv" "${labelled[@]}" --seed "$seed" --json > "$out/gaussian-s$seed.eval.json"
  "$cmm" classify --train "$data/digits-train.csv" --train-labels "$data/digits-train-labels.csv" --data "$data/gaussian-s$seed.inpaint.csv" \
    --labels "$out/inpaint-labels.csv" --repeat 3 --json > "$out/gaussian-s$seed.classify.json"
  for method in ${METHODS:-cmm mm}; do
    name=$method-s$seed
    [ -f "$out/$name.cmm" ] || /usr/bin/time -f %e -o "$out/$name.time" \
      "$cmm" fit --data "$data/digits-train.csv" --method "$method" --seed "$seed" "${iters[@]}" ${fitargs[@]+"${fitargs[@]}"} --out "$out/$name.cmm" --json > "$out/$name.fit.json"
    "$cmm" eval --model "$out/$name.cmm" "${labelled[@]}" --seed "$seed" --json > "$out/$name.eval.json"
    # --noise 1 (one grey level in 16): at the default (0.05 of the rows' spread) the chains do not reach the conditional at d = 64.
    "$cmm" inpaint --model "$out/$name.cmm" --data "$out/inpaint-input.csv" --mask "$data/bottom-half.csv" --completions 3 --noise "$noise" \
      --seed "$seed" --out "$out/$name.inpaint.csv" --json > "$out/$name.inpaint.json"
    "$cmm" classify --train "$data/digits-train.csv" --train-labels "$data/digits-train-labels.csv" --data "$out/$name.inpaint.csv" \
      --labels "$out/inpaint-labels.csv" --repeat 3 --json > "$out/$name.classify.json"
  done
done
/usr/bin/python3 "$here/digits_table.py" "$out"
