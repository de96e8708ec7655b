#!/usr/bin/env bash
# CMM.Gpu GPU run: correctness of CUDA against the CPU accelerator, then timings at scale.
# For a machine with an NVIDIA GPU (driver installed), no .NET and no network. See bench/gpu/README.md.
#
#   bench/gpu/run.sh [PUBLISHED_DIR] [REPORT_DIR]
#
# PUBLISHED_DIR: the self-contained single-file build (default: .gpubuild) holding `cmm` and `CMM.Gpu.Bench`.
# REPORT_DIR:    where the report goes (default: $OUT if set, else ./gpu-report).
# Fits in 8 minutes: each stage has its own timeout; a stage that times out is recorded and the next one runs.
set -uo pipefail

PUB="${1:-.gpubuild}"
REPORT="${2:-${OUT:-./gpu-report}}"
mkdir -p "$REPORT"
SUMMARY="$REPORT/summary.txt"
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
# Explicit CUDA: fail loudly instead of silently timing the CPU simulator. CMM_RUN_ACCELERATOR=cpu exercises the
# script on a machine without a GPU (small sizes, CPU accelerator compared with itself).
ACCEL="${CMM_RUN_ACCELERATOR:-cuda}"
export CMM_ACCELERATOR="$ACCEL"

for exe in "$PUB/cmm" "$PUB/CMM.Gpu.Bench"; do
  if [ ! -x "$exe" ]; then
    echo "missing executable $exe: publish first (bench/gpu/README.md)" >&2
    exit 2
  fi
done

start=$(date +%s)
GPUCHECK_RC=99
stage() { # name timeout_s command...
  local name="$1" limit="$2"; shift 2
  local t0=$(date +%s)
  timeout --signal=TERM --kill-after=10 "$limit" "$@" >"$REPORT/$name.log" 2>&1
  local rc=$?
  [ "$name" = gpucheck ] && GPUCHECK_RC=$rc
  local note=""
  [ "$rc" -eq 124 ] && note=" (TIMED OUT after ${limit}s)"
  echo "$name: exit $rc$note, $(( $(date +%s) - t0 )) s" | tee -a "$SUMMARY"
  return 0
}

{
  echo "CMM.Gpu GPU run $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  (nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null || echo "nvidia-smi not available")
  (lscpu 2>/dev/null | grep -E 'Model name|^CPU\(s\)') || true
} | tee "$SUMMARY"

# 1. Which accelerators the build sees (and why not, if CUDA is missing).
stage devices 60 "$PUB/cmm" devices --json

# 2. Correctness (CUDA vs CPU accelerator, same inputs and seeds: pairwise, Sinkhorn stored/online, ULA Langevin,
#    conjugate solve, ICNN value/gradient/loss gradient) and timings at scale: online Sinkhorn iteration at n = m = 10^6
#    (d = 2, 64), ULA step with 10^7 chains (quadratic potential, d = 2, 16), ICNN loss + parameter gradient at batch 10^6
#    (d = 2, 16, widths 64-64-64), and streaming 10^8 samples to a temporary .npy file (deleted afterwards; stopped after
#    120 s with the rate reported).
stage gpucheck 380 "$PUB/CMM.Gpu.Bench" gpucheck --scale --accelerator "$ACCEL" --out "$REPORT"

# 3. Side by side with plain C# on this machine's CPU cores (quick sizes), as far as the remaining time allows.
left=$(( 465 - ($(date +%s) - start) ))
if [ "$left" -gt 30 ]; then
  stage compare "$left" "$PUB/CMM.Gpu.Bench" compare --quick --accelerator "$ACCEL" --out "$REPORT/compare-quick.json"
else
  echo "compare: skipped (no time left)" | tee -a "$SUMMARY"
fi

echo "total $(( $(date +%s) - start )) s; report files in $REPORT" | tee -a "$SUMMARY"
grep -E "PASS|FAIL|PENDING|sinkhorn online|langevin ULA" "$REPORT/gpucheck.log" >>"$SUMMARY" 2>/dev/null || true
# Exit status: gpucheck's (0: all checks passed, 1: a check failed, 3: accelerator unavailable, 124: timed out).
exit "$GPUCHECK_RC"
