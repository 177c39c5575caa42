#!/usr/bin/env bash
# The adversarial part on a lent GPU, as one prepared call: train the shipped poet's
# discriminator, then fine-tune the poet against it (`yinshi train adversarial`, REINFORCE under
# the 格律 constraints), then time the generation engine on the GPU (bench/generate.py). A
# stage that fails on the GPU is run again on the machine's CPUs, so the call is not wasted.
#
# Run from the repository root on the GPU machine (`make gpu-bundle` here first, see
# setup.sh). Results go to runs/h200-adversarial/; $OUT (if set) gets the discriminator and
# the tuned poet (without its updated critic, to fit what comes back) as tar pieces of at most
# 15 MB, and the logs and records in meta.tar.gz.
set -u
PY=${PY:-python3}
POET=${POET:-model/weights/small}
N_PER_FORM=${N_PER_FORM:-200}
ADVERSARIAL_MINUTES=${ADVERSARIAL_MINUTES:-3}
CORPUS_TAR=${CORPUS_TAR:-.gpu/corpus.tar.xz}
RUNS=${RUNS:-runs/h200-adversarial}
source "$(dirname "$0")/setup.sh"

on_gpu_else_cpu() {  # on_gpu_else_cpu STAGE NAME ARGS… — `train`, once more on the CPU if it fails
  train "$@" || CUDA_VISIBLE_DEVICES= train "$@"
}

pack_if_out() {  # pack_if_out NAME DIR [EXCLUDE…] — right away, so a cut-off call keeps it
  [ -n "${OUT:-}" ] && [ -f "$2/model.safetensors" ] && pack "$@"
}

rm -rf "$RUNS/poet" && cp -r "$POET" "$RUNS/poet"
on_gpu_else_cpu discriminator poet/discriminator --generator "$RUNS/poet" \
  --n-per-form "$N_PER_FORM" --batch-size 32
pack_if_out discriminator "$RUNS/poet/discriminator"
on_gpu_else_cpu adversarial adversarial --init "$RUNS/poet" --steps 100000 \
  --max-minutes "$ADVERSARIAL_MINUTES" --batch-size 32 --lr 1e-5 --kl-coef 0.5 --d-every 2 --d-steps 2
pack_if_out adversarial "$RUNS/adversarial" discriminator train_lines.bin  # the poet's, as in git
timeout 60 $PY bench/generate.py --device cuda --dtype bf16 --batch 1 32 256 --repeat 1 \
  >"$RUNS/logs/bench-generate.json" 2>"$RUNS/logs/bench-generate.log"
cat "$RUNS/logs/status.txt"
[ -n "${OUT:-}" ] && pack_meta
