"""Pretraining and fine-tuning with the HF `Trainer`.

Both stages train on the conditional format of `model.prompt`: the form and tune tokens cost
nothing and the model learns them from the whole corpus. Pretraining reads every work of the
training split as one packed token stream; fine-tuning narrows to the verse the poet writes
(optionally only regular verse that passes the 格律 engine) and packs whole works, so each is
seen with its prompt.

Each run leaves in its out dir a standard HF checkpoint (`from_pretrained` works on it),
`yinshi.json` (what was trained on, how, how fast, how good), `metrics.json`, `loss.png`, and
`checkpoints/` (the Trainer's, for `--resume`).
"""

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from model.prompt import control_tokens, train_text
from training.lm import artifacts
from training.lm.data import BlockDataset, build_blocks, file_sha256, read_records, split_path
from training.lm.perplexity import perplexities
from training.lm.presets import Preset, new_model
from training.lm.tokenizer import (
    MIN_CHAR_COUNT,
    MIN_TUNE_COUNT,
    build_tokenizer,
    frequent_tunes,
    tokenizer_tunes,
)
from yinshi.errors import UserError
from yinshi.prosody.forms import FORMS, REGULAR_FORMS

FORMAT_VERSION = 1
FINETUNE_FORMS = tuple(f for f in FORMS if f not in ("曲", "其他"))
"""What the poet writes: shi of every form and 词; not 曲 and not the classics."""
MIN_LR_RATIO = 0.1
"""Cosine decay ends at this share of the peak learning rate."""
UNBOUNDED_STEPS = 10**9
"""`max_steps` for a run bounded by time alone; the time budget stops it."""
BF16_PEAK_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "GH200": 989e12,
    "A100": 312e12,
    "A800": 312e12,
    "L40S": 362e12,
    "L40": 181e12,
    "A10G": 70e12,
    "A10": 125e12,
    "L4": 121e12,
    "RTX 4090": 165e12,
    "RTX 3090": 71e12,
}
"""Dense bf16 tensor-core peak by device-name fragment (longest match wins), for MFU."""


@dataclass
class RunOptions:
    corpus: Path
    out: Path
    preset: Preset
    seed: int = 0
    max_steps: int | None = None
    max_minutes: float | None = None
    resume: bool = False
    batch_size: int | None = None
    learning_rate: float | None = None
    grad_accum: int = 1
    eval_steps: int | None = None
    eval_blocks: int = 128
    bf16: bool | None = None
    """None: on where the device has fast bf16 (see `fast_bf16`)."""
    test_eval: bool = True
    extra: dict = field(default_factory=dict)
    """Stage-specific facts recorded in yinshi.json."""


# --- pretraining and fine-tuning --------------------------------------------------------------


def pretrain(
    options: RunOptions,
    tokenizer_dir: Path | None = None,
    min_char_count: int = MIN_CHAR_COUNT,
    min_tune_count: int = MIN_TUNE_COUNT,
) -> dict:
    """Train a fresh model of ``options.preset`` on every work of the training split."""
    records = read_records(options.corpus, "train")
    if tokenizer_dir:
        tokenizer = load_tokenizer(tokenizer_dir)
    else:
        tokenizer = build_tokenizer(
            records, min_char_count, min_tune_count, max_length=options.preset.block_size
        )
    tunes = tokenizer_tunes(tokenizer, frequent_tunes(records, 1))
    model = new_model(options.preset, tokenizer, options.seed)
    options.extra.update(stage="pretrain", works=len(records))
    return run(options, model, tokenizer, records, tunes, whole_works=False)


def finetune(
    options: RunOptions,
    init: Path,
    forms: tuple[str, ...] = FINETUNE_FORMS,
    only_conforming: bool = False,
    min_tune_count: int = MIN_TUNE_COUNT,
) -> dict:
    """Continue from any causal-LM checkpoint on the verse the poet writes.

    A foreign checkpoint (a char-level Chinese GPT-2) gets the control tokens it lacks and its
    embeddings resized; ours already has them.
    """
    unknown = [f for f in forms if f not in FORMS]
    if unknown:
        raise UserError(f"未知体裁 unknown forms: {', '.join(unknown)}（可选 {' '.join(FORMS)}）")
    tokenizer = load_tokenizer(init)
    model = load_model(init)
    records = read_records(options.corpus, "train")
    all_tunes = frequent_tunes(records, min_tune_count)
    added = add_control_tokens(model, tokenizer, all_tunes)
    kept = select_works(records, forms, only_conforming)
    print(f"微调作品 works kept: {len(kept)} of {len(records)}", flush=True)
    if not kept:
        raise UserError("筛选后没有可训练的作品 / no works left after filtering")
    tunes = tokenizer_tunes(tokenizer, frequent_tunes(records, 1))
    options.extra.update(
        stage="finetune",
        init=str(init),
        forms=list(forms),
        only_conforming=only_conforming,
        works=len(kept),
        added_tokens=added,
    )
    return run(options, model, tokenizer, kept, tunes, whole_works=True, forms=forms)


def select_works(records: list[Mapping], forms: tuple[str, ...], only_conforming: bool) -> list:
    """Works of the given forms; with ``only_conforming``, regular verse must pass the engine."""
    picked = [r for r in records if r["form"] in forms]
    if not only_conforming:
        return picked
    from yinshi.prosody import ProsodyInputError, analyze

    def conforms(record: Mapping) -> bool:
        if record["form"] not in REGULAR_FORMS:
            return True
        try:
            return analyze(record["text"], form=record["form"]).conforms
        except ProsodyInputError:
            return False

    return [r for r in picked if conforms(r)]


def load_tokenizer(path: Path):
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as error:
        raise UserError(f"无法读取分词器 {path} / cannot load a tokenizer: {error}") from error
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"{path}: 需要 fast tokenizer（tokenizer.json） / needs a fast tokenizer")
    return tokenizer


def load_model(path: Path):
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path), attn_implementation="sdpa", dtype=torch.float32
        )
    except (OSError, ValueError) as error:
        raise UserError(f"无法读取模型 {path} / cannot load a model: {error}") from error
    return model


def add_control_tokens(model, tokenizer, tunes: list[str]) -> list[str]:
    """Give a tokenizer the format's tokens it lacks; resize the model to match."""
    vocab = tokenizer.get_vocab()
    missing = [t for t in control_tokens(tunes) if t not in vocab]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    named = {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>"}
    named.update(pad_token="<pad>", sep_token="<sep>")
    for attribute, token in named.items():
        setattr(tokenizer, attribute, token)
    if len(tokenizer) != model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    model.config.bos_token_id = tokenizer.bos_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    return missing


# --- the shared run ---------------------------------------------------------------------------


def run(
    options: RunOptions,
    model,
    tokenizer,
    records: list[Mapping],
    tunes: set[str],
    whole_works: bool,
    forms: tuple[str, ...] | None = None,
) -> dict:
    """Train, keep the best checkpoint by validation loss, publish it with its records."""
    preset = options.preset
    if options.max_steps is not None and options.max_steps < 1:
        raise UserError("--max-steps 须为正数 / must be positive")
    if options.max_minutes is not None and options.max_minutes <= 0:
        raise UserError("--max-minutes 须为正数 / must be positive")
    block = min(preset.block_size, model.config.n_positions)
    pad_id = tokenizer.pad_token_id if whole_works else None

    def to_text(record: Mapping) -> str:
        return train_text(record, tunes)

    val_records = read_records(options.corpus, "val")
    if forms is not None:
        val_records = [r for r in val_records if r["form"] in forms] or val_records
    train_blocks = build_blocks(records, to_text, tokenizer, block, options.seed, whole_works)
    val_blocks = build_blocks(val_records, to_text, tokenizer, block, options.seed, whole_works)
    val_blocks = val_blocks[: options.eval_blocks]
    if len(train_blocks) == 0 or len(val_blocks) == 0:
        raise UserError(f"语料太少，凑不满一个 {block} 字的块 / corpus too small for one block")

    cuda = torch.cuda.is_available()
    bf16 = options.bf16 if options.bf16 is not None else fast_bf16(cuda)
    args = training_arguments(options, whole_works, bf16, cuda)
    clock = TimeBudget(options.max_minutes)
    transformers.utils.logging.disable_progress_bar()
    trainer = PoetTrainer(
        clock=clock,
        flops_per_token=flops_per_token(model, block),
        peak_flops=peak_bf16_flops(),
        model=model,
        args=args,
        train_dataset=BlockDataset(train_blocks, pad_id),
        eval_dataset=BlockDataset(val_blocks, pad_id),
        processing_class=tokenizer,
        callbacks=[clock, LogPrinter()],
    )
    trainer.remove_callback(PrinterCallback)  # LogPrinter says the same in one line
    resume = options.resume and latest_checkpoint(options.out)
    if options.resume and not resume:
        raise UserError(f"{options.out}/checkpoints 里没有可续训的检查点 / nothing to resume from")
    started = time.time()
    trainer.train(resume_from_checkpoint=resume or None)
    wall = time.time() - started
    if not trainer.is_world_process_zero():
        return {}  # under torchrun the main process alone evaluates and publishes

    model = trainer.model
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    history = trainer.state.log_history
    metrics = {
        "best_eval_loss": trainer.state.best_metric,
        "best_val_ppl": math.exp(trainer.state.best_metric) if trainer.state.best_metric else None,
        "steps": trainer.state.global_step,
        "tokens_seen": trainer.state.num_input_tokens_seen,
        "train_seconds": trainer.train_seconds(),
        "tokens_per_s": trainer.tokens_per_second(),
        "train_block_count": len(train_blocks),
        "block_size": block,
    }
    if trainer.peak_flops:
        metrics["mfu"] = trainer.mfu(metrics["tokens_per_s"])
    if options.test_eval:
        test_records = read_records(options.corpus, "test")
        if forms is not None:
            test_records = [r for r in test_records if r["form"] in forms]
        for group, value in perplexities(model, tokenizer, test_records, tunes).items():
            metrics[f"test_ppl_{group}"] = value["ppl"]

    info = run_info(options, model, tokenizer, tunes, args, resume=bool(resume))
    info |= {"wall_seconds": wall, "metrics": metrics}
    save_run(options.out, model, tokenizer, preset, info, history)
    return info


def training_arguments(
    options: RunOptions, whole_works: bool, bf16: bool, cuda: bool
) -> TrainingArguments:
    """The Trainer's settings: the preset's, overridden by the run's options."""
    preset = options.preset
    eval_steps = options.eval_steps or preset.eval_steps
    return TrainingArguments(
        output_dir=str(options.out / "checkpoints"),
        per_device_train_batch_size=options.batch_size or preset.batch_size,
        per_device_eval_batch_size=options.batch_size or preset.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        learning_rate=options.learning_rate or preset.learning_rate,
        weight_decay=preset.weight_decay,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        warmup_steps=preset.warmup_steps,
        max_steps=options.max_steps or (UNBOUNDED_STEPS if options.max_minutes else -1),
        num_train_epochs=1,
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=max(1, eval_steps // 10),
        bf16=bf16,
        seed=options.seed,
        data_seed=options.seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding" if whole_works else "all",
        use_cpu=not cuda,
    )


def run_info(options: RunOptions, model, tokenizer, tunes: set[str], args, resume: bool) -> dict:
    """What a checkpoint records about itself (yinshi.json): preset, size, data, training."""
    cuda = torch.cuda.is_available()
    return {
        "format_version": FORMAT_VERSION,
        "preset": options.preset.as_dict(),
        "model": {
            "parameters": sum(p.numel() for p in model.parameters()),
            **{k: getattr(model.config, k) for k in ("n_embd", "n_layer", "n_head", "n_positions")},
            "vocab_size": len(tokenizer),
        },
        "data": {
            "corpus": str(options.corpus),
            "train_sha256": file_sha256(split_path(options.corpus, "train")),
        },
        "training": {
            "seed": options.seed,
            "max_steps": options.max_steps,
            "max_minutes": options.max_minutes,
            "batch_size": args.per_device_train_batch_size,
            "grad_accum": args.gradient_accumulation_steps,
            "learning_rate": args.learning_rate,
            "warmup_steps": args.warmup_steps,
            "bf16": args.bf16,
            "device": torch.cuda.get_device_name() if cuda else "cpu",
            "threads": torch.get_num_threads(),
            "resumed": resume,
            **options.extra,
        },
        "tunes": sorted(tunes, key=tokenizer.convert_tokens_to_ids),
    }


def save_run(out: Path, model, tokenizer, preset: Preset, info: dict, history: list) -> None:
    """Publish the final checkpoint and its records, each file by an atomic rename."""
    staging = out / ".final"
    if staging.exists():
        for item in staging.iterdir():
            item.unlink()
    staging.mkdir(parents=True, exist_ok=True)
    if preset.save_dtype != "float32":
        model = model.to(getattr(torch, preset.save_dtype))
    model.save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    artifacts.write_json(staging / "yinshi.json", info)
    artifacts.write_json(staging / "metrics.json", {**info["metrics"], "log_history": history})
    artifacts.plot_losses(history, staging / "loss.png")
    artifacts.publish(staging, out)


def fast_bf16(cuda: bool) -> bool:
    """bf16 autocast pays on CUDA with bf16 and on CPUs with AMX tiles.

    On this project's 2-core AMX machine it trained the `small` shape 1.65x faster than fp32
    (670 vs 404 tokens/s, same run); without AMX, CPU bf16 is slower than fp32.
    """
    if cuda:
        return torch.cuda.is_bf16_supported()
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def latest_checkpoint(out: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    directory = out / "checkpoints"
    return get_last_checkpoint(str(directory)) if directory.is_dir() else None


def peak_bf16_flops() -> float | None:
    """Dense bf16 peak of the visible CUDA devices, for MFU (None: CPU or an unknown device)."""
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    matches = [key for key in BF16_PEAK_FLOPS if key in name]
    if not matches:
        return None
    return BF16_PEAK_FLOPS[max(matches, key=len)] * torch.cuda.device_count()


def flops_per_token(model, block: int) -> float:
    """Training FLOPs per token: 6·N for the weights plus the attention scores over the block."""
    params = sum(p.numel() for p in model.parameters())
    return 6 * params + 6 * model.config.n_layer * block * model.config.n_embd


# --- Trainer pieces -----------------------------------------------------------------------------


class TimeBudget(TrainerCallback):
    """Stops training when the wall-clock budget is spent, after one last evaluation and save.

    The budget covers the whole run: time recorded in a resumed checkpoint's log counts.
    Under torchrun every process must stop at the same step and follow the same learning rate
    (their weights would drift apart otherwise), so the share of the budget spent is agreed
    at each step's end — the slowest process's clock — by one all-reduce.
    """

    def __init__(self, minutes: float | None):
        self.budget = minutes * 60 if minutes else None
        self.before = 0.0
        self.started: float | None = None
        self.agreed = 0.0
        """Seconds spent as of the last step's end, the same in every process."""

    def elapsed(self) -> float:
        return self.before + (time.time() - self.started if self.started else 0.0)

    def fraction(self) -> float:
        return self.agreed / self.budget if self.budget else 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.before = max((e.get("elapsed_s", 0.0) for e in state.log_history), default=0.0)
        self.started = time.time()
        self.agreed = self.before

    def on_step_end(self, args, state, control, **kwargs):
        if not self.budget:
            return control
        self.agreed = _slowest(self.elapsed())
        if self.agreed >= self.budget:
            control.should_training_stop = True
            control.should_log = True
            control.should_evaluate = True
            control.should_save = True
        return control


def _slowest(seconds: float) -> float:
    """The largest of every process's `seconds` under torch.distributed; else `seconds`."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return seconds
    on_gpu = torch.distributed.get_backend() == "nccl"
    value = torch.tensor([seconds], device="cuda" if on_gpu else "cpu", dtype=torch.float64)
    torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
    return value.item()


def lr_factor(step: int, warmup: int, progress: float) -> float:
    """Share of the peak learning rate: linear warmup over steps, then cosine over progress.

    ``progress`` runs 0→1 over the run (by steps, or by time spent for a time budget); the
    rate ends at `MIN_LR_RATIO` of the peak.
    """
    if step < warmup:
        return (step + 1) / warmup
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, progress))))
    return MIN_LR_RATIO + (1 - MIN_LR_RATIO) * cosine


def key_values(fields: Mapping) -> str:
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()
    )


class LogPrinter(TrainerCallback):
    """One key=value line per log event, instead of a progress bar (from the main process
    alone under torchrun: the others log the same)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero:
            print(key_values({"step": state.global_step, **(logs or {})}), flush=True)


class PoetTrainer(Trainer):
    """`Trainer` with a warmup-then-cosine schedule over steps or time, and speed in its logs.

    With a time budget the cosine runs over the budget's elapsed share, so the learning rate
    reaches its floor when time is up however fast the machine turns out to be.
    """

    def __init__(
        self, *args, clock: TimeBudget, flops_per_token: float, peak_flops: float | None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.flops_per_token = flops_per_token
        self.peak_flops = peak_flops
        self.eval_seconds = 0.0
        self.last_log = (0.0, 0, 0.0)  # (time, tokens, eval seconds) at the previous log

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            warmup = self.args.warmup_steps
            bounded = 0 < self.args.max_steps < UNBOUNDED_STEPS
            total = self.args.max_steps if bounded else num_training_steps

            def factor(step: int) -> float:
                progress = self.clock.fraction() if self.clock.budget else 0.0
                if bounded or not self.clock.budget:
                    progress = max(progress, (step - warmup) / max(1, total - warmup))
                return lr_factor(step, warmup, progress)

            optimizer = optimizer or self.optimizer
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return self.lr_scheduler

    def evaluate(self, *args, **kwargs):
        started = time.time()
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            self.eval_seconds += time.time() - started

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if "loss" in logs:
            now, tokens = time.time(), self.state.num_input_tokens_seen
            then, tokens_then, eval_then = self.last_log
            busy = (now - then) - (self.eval_seconds - eval_then)
            if then and busy > 0:
                logs["tokens_per_s"] = (tokens - tokens_then) / busy
                if self.peak_flops:
                    logs["mfu"] = self.mfu(logs["tokens_per_s"])
            self.last_log = (now, tokens, self.eval_seconds)
            logs["elapsed_s"] = self.clock.elapsed()
        super().log(logs, start_time)

    def mfu(self, tokens_per_s: float) -> float:
        """Model FLOPs utilisation against the devices' dense bf16 peak."""
        return tokens_per_s * self.flops_per_token / self.peak_flops

    def train_seconds(self) -> float:
        return self.clock.elapsed() - self.eval_seconds

    def tokens_per_second(self) -> float:
        seconds = self.train_seconds()
        return self.state.num_input_tokens_seen / seconds if seconds > 0 else 0.0
