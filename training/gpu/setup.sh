# Sourced by the scripts beside it: the dependencies and corpus a GPU machine without network
# lacks (see `make gpu-bundle`), the log dir, and `yinshi`. Needs PY, CORPUS_TAR and RUNS.
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
if [ ! -f data/corpus/train.jsonl ]; then
  mkdir -p data && tar xJf "$CORPUS_TAR" -C data || exit 1
fi
mkdir -p "$RUNS/logs"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$RUNS/logs/gpu.txt" 2>&1
$PY -c 'import torch, transformers; print(torch.__version__, transformers.__version__)' \
  >>"$RUNS/logs/gpu.txt" 2>&1

yinshi() { $PY -m yinshi.cli "$@"; }

pack() {  # pack NAME DIR [EXCLUDE…] — DIR as $OUT/NAME.tar.* of ≤ 15 MB, without EXCLUDE…
  local name=$1 dir=$2 skip=(--exclude ./checkpoints)
  shift 2
  for path in "$@"; do skip+=(--exclude "./$path"); done
  tar cf - -C "$dir" "${skip[@]}" . | split -b 15M - "$OUT/$name.tar."
}

train() {  # train STAGE NAME ARGS… — one stage, its output in $RUNS/NAME, its log beside
  local stage=$1 name=$2
  shift 2
  yinshi train "$stage" --out "$RUNS/$name" "$@" >"$RUNS/logs/${name//\//-}.log" 2>&1
  local status=$?
  echo "$name exit $status" >>"$RUNS/logs/status.txt"
  return $status
}

pack_meta() {  # the logs and every run's records and loss curve as $OUT/meta.tar.gz
  (cd "$RUNS" && tar czf "$OUT/meta.tar.gz" logs $(find . -path ./logs -prune -o \
    \( -name yinshi.json -o -name metrics.json -o -name loss.png -o -name '*.md' \
    -o -name discriminator.json \) -not -path '*/checkpoints/*' -print))
}
