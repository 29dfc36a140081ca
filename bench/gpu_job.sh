#!/usr/bin/env bash
# The device run (issue 19): what a run on a GPU machine measures, every command's whole output
# kept under bench/results/<UTC date>-<adapter>/, to be committed as it came back, so that each
# figure in the README can be traced to a file.
#
#   devices.txt   mnist devices
#   mlp.txt       mnist train --model mlp --epochs 10 --profile
#   lenet.txt     mnist train --model lenet --epochs 10 --profile
#   pytorch.txt   deno task bench:pytorch (where python3 has torch with CUDA)
#   memory.txt    deno task bench:memory (peak RSS, wall time, cold start of predict and serve)
#   env.txt       date, commit, Deno, GPU and driver, CPUs;  exit codes and seconds of each step
#
# On the device machine (see docs/gpu-runs/README.md; ../shared/gpu/README.md prepares .gpu/):
#   bash .gpu/run.sh bash bench/gpu_job.sh
# On the CPU adapter first, shortened (the folder is then named after llvmpipe):
#   GPU_JOB_EPOCHS=1 GPU_JOB_LIMIT=6000 bash bench/gpu_job.sh
#
# GPU_JOB_EPOCHS (default 10) and GPU_JOB_LIMIT (--limit N, default none) shorten the training
# runs; GPU_JOB_PYTORCH=1 runs bench:pytorch even without CUDA (on the CPU),
# GPU_JOB_ROUNDS/GPU_JOB_SECONDS set its --rounds/--seconds (default 5 and 2);
# GPU_JOB_STEP_TIMEOUT caps each step in seconds (default 300); MNIST_DATA_DIR must hold MNIST.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} NO_COLOR=1
: "${MNIST_DATA_DIR:?set MNIST_DATA_DIR to a folder holding the four MNIST .gz files}"
epochs=${GPU_JOB_EPOCHS:-10}
limit=()
[ -n "${GPU_JOB_LIMIT:-}" ] && limit=(--limit "$GPU_JOB_LIMIT")
step_timeout=${GPU_JOB_STEP_TIMEOUT:-300}
mnist=(deno run --allow-net --allow-read --allow-write --allow-env main.ts)

# The adapter's name, as "mnist devices" marks the selected one, made a folder name.
adapter=$("${mnist[@]}" devices 2>/dev/null | sed -n 's/^\[[0-9]*\] \(.*\)  (selected)$/\1/p')
slug=$(printf '%s' "${adapter:-unknown}" | sed 's/ (.*//; s/[^A-Za-z0-9]\+/-/g; s/-$//' |
  tr 'A-Z' 'a-z')
out="bench/results/$(date -u +%F)-$slug"
mkdir -p "$out"
models=$(mktemp -d)
export MNIST_MODEL_DIR=$models
trap 'rm -rf "$models"' EXIT

{
  echo "date:     $(date -u '+%F %T UTC')"
  echo "commit:   $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git status --porcelain \
    2>/dev/null | grep -q . && echo ' (with uncommitted changes)')"
  echo "adapter:  ${adapter:-none found}"
  echo "deno:     $(deno --version | head -n 1)"
  echo "gpu:      $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
    2>/dev/null || echo 'no nvidia-smi')"
  echo "cpus:     $(nproc) ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- |
    sed 's/^ //'))"
  echo "settings: epochs $epochs${GPU_JOB_LIMIT:+, --limit $GPU_JOB_LIMIT}${GPU_JOB_PYTORCH:+,\
 GPU_JOB_PYTORCH=$GPU_JOB_PYTORCH}${GPU_JOB_ROUNDS:+, rounds $GPU_JOB_ROUNDS}${GPU_JOB_SECONDS:+,\
 seconds $GPU_JOB_SECONDS}"
  echo "load:     $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) (1, 5, 15 min) on $(nproc) CPUs"
  case "$adapter" in
    *llvmpipe* | *SwiftShader* | *lavapipe*)
      echo "NOTE:     a CPU adapter (software rendering): a try of the job, not GPU figures" ;;
  esac
  echo
} > "$out/env.txt"

# step NAME COMMAND...: runs COMMAND into $out/NAME.txt (stdout and stderr), logs its exit code.
step() {
  local name=$1 start code
  shift
  echo "== $name: $*" >&2
  start=$(date +%s)
  { echo "\$ $*"; timeout "$step_timeout" "$@" 2>&1; } > "$out/$name.txt"
  code=$?
  echo "$name: exit $code, $(($(date +%s) - start)) s: $*" >> "$out/env.txt"
}

step devices "${mnist[@]}" devices
step mlp "${mnist[@]}" train --model mlp --epochs "$epochs" --profile "${limit[@]}"
step lenet "${mnist[@]}" train --model lenet --epochs "$epochs" --profile "${limit[@]}"
torch_cuda=$(python3 -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null || echo none)
if [ "$torch_cuda" = True ] || [ "${GPU_JOB_PYTORCH:-}" = 1 ]; then
  step pytorch deno run --allow-read --allow-env --allow-run --allow-sys=loadavg bench/compare.ts \
    --rounds "${GPU_JOB_ROUNDS:-5}" --seconds "${GPU_JOB_SECONDS:-2}"
else
  echo "pytorch: not run (python3 torch with CUDA: $torch_cuda)" >> "$out/env.txt"
fi
step memory deno run --allow-read --allow-write --allow-env --allow-run --allow-net \
  bench/memory.ts --epochs 1 "${limit[@]}"
echo "wrote $out" >&2
