# The two commands a newcomer needs: `make test` and `make run`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test run lint format model clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: 2.13.0 is a CPU build here; a bare `torch` would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[model,train,bot,dev]'
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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
