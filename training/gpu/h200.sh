#!/usr/bin/env bash
# One prepared GPU session (a lent H200 gives 15 minutes in all, start-up included): pretrain
# and fine-tune the shippable `small` shape and the `base` preset side by side on one GPU, and
# fine-tune `small` a second time on conforming verse only, to answer whether that helps.
#
# Run from the repository root on the GPU machine. It needs the prepared corpus in data/corpus
# or a tarball of it in $CORPUS_TAR, and reads the wheels the machine lacks from .whl/: on a
# machine with no network, `make gpu-bundle` beforehand makes both. Results go to runs/h200/;
# $OUT (if set) gets the shippable checkpoints as tar pieces of at most 15 MB, and every run's
# records, logs and loss curves in meta.tar.gz.
# Minutes are training time per stage; data preparation and evaluation come on top.
set -u
PY=${PY:-python3}
SMALL=${SMALL:-small}
BASE=${BASE:-base}
PRETRAIN_MINUTES=${PRETRAIN_MINUTES:-3.25}
FINETUNE_MINUTES=${FINETUNE_MINUTES:-1}
CORPUS_TAR=${CORPUS_TAR:-.gpu/corpus.tar.xz}
RUNS=${RUNS:-runs/h200}
source "$(dirname "$0")/setup.sh"

# Batches are sized for the GPU: the presets' own are for two CPU cores.
small_pipeline() {
  train pretrain small-pretrain --preset "$SMALL" --batch-size 256 --eval-steps 500 \
    --max-minutes "$PRETRAIN_MINUTES" || return
  train finetune small-finetune --init "$RUNS/small-pretrain" --batch-size 256 \
    --eval-steps 300 --max-minutes "$FINETUNE_MINUTES" &
  train finetune small-conforming --init "$RUNS/small-pretrain" --only-conforming \
    --batch-size 256 --eval-steps 300 --max-minutes "$FINETUNE_MINUTES" &
  wait
}
base_pipeline() {
  train pretrain base-pretrain --preset "$BASE" --batch-size 128 \
    --max-minutes "$PRETRAIN_MINUTES" || return
  train finetune base-finetune --init "$RUNS/base-pretrain" --batch-size 128 \
    --eval-steps 500 --max-minutes "$FINETUNE_MINUTES"
}
nvidia-smi dmon -s u -d 10 >"$RUNS/logs/dmon.txt" 2>&1 &
dmon=$!
small_pipeline &
small=$!
base_pipeline &
wait $small $!
kill $dmon 2>/dev/null
cat "$RUNS/logs/status.txt"

if [ -n "${OUT:-}" ]; then
  for name in small-finetune small-conforming; do
    [ -f "$RUNS/$name/model.safetensors" ] || continue
    pack "$name" "$RUNS/$name"
  done
  pack_meta
fi
