"""``yinshi train pretrain|finetune`` and ``yinshi eval``."""

import argparse
from pathlib import Path

from yinshi.errors import UserError


def register(commands: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """`train` and `eval`; returns the stages of `train`, for `training.cli` to add the
    adversarial ones (registering them here would make the two CLIs import each other)."""
    train = commands.add_parser("train", help="pretrain or fine-tune the GPT-2 poet")
    stages = train.add_subparsers(dest="train_command", required=True, metavar="STAGE")

    pretrain = stages.add_parser("pretrain", help="train from scratch on the whole corpus")
    _common(pretrain, default_out="runs/pretrain")
    pretrain.add_argument("--preset", default="small", help="tiny | small | base (default small)")
    pretrain.add_argument("--tokenizer", type=Path, help="reuse this tokenizer dir")
    pretrain.add_argument("--min-char-count", type=int, default=3, help="rarer characters → <unk>")
    pretrain.add_argument(
        "--min-tune-count", type=int, default=50, help="词牌 with fewer works share <词>"
    )
    pretrain.set_defaults(func=_pretrain)

    finetune = stages.add_parser("finetune", help="continue on the verse the poet writes")
    _common(finetune, default_out="runs/finetune")
    finetune.add_argument("--init", type=Path, required=True, help="checkpoint dir to start from")
    finetune.add_argument(
        "--preset", help="training defaults (default: the init's preset, else small)"
    )
    finetune.add_argument(
        "--forms", help="comma-separated forms to keep (default: all shi forms and 词)"
    )
    finetune.add_argument(
        "--only-conforming",
        action="store_true",
        help="keep only regular verse (五绝 七绝 五律 七律) that passes the 格律 engine",
    )
    finetune.add_argument(
        "--min-tune-count", type=int, default=50, help="tokens for 词牌 a foreign init lacks"
    )
    finetune.set_defaults(func=_finetune)

    evaluate = commands.add_parser("eval", help="perplexity and sample quality of a checkpoint")
    evaluate.add_argument("--model", type=Path, required=True, help="checkpoint dir")
    evaluate.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    evaluate.add_argument("--n", type=int, default=20, help="samples per form (default 20)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--top-p", type=float, default=0.9)
    evaluate.add_argument("--temperature", type=float, default=1.0)
    evaluate.add_argument("--json", action="store_true", help="print report.json instead")
    _threads(evaluate)
    evaluate.add_argument("--out", type=Path, help="where report.{json,md} go (default: --model)")
    variants = evaluate.add_argument_group(
        "variants (--compare): before, taste, base, reranked (if MODEL/discriminator), adversarial"
    )
    variants.add_argument(
        "--compare", action="store_true", help="add the constrained variants side by side"
    )
    variants.add_argument(
        "--adversarial",
        type=Path,
        action="append",
        metavar="DIR",
        help="an adversarially tuned checkpoint (repeat for several)",
    )
    variants.add_argument("--alpha", type=float, default=1.0, help="reranking weight (default 1.0)")
    variants.add_argument(
        "--sweep",
        type=Path,
        metavar="FILE",
        help="instead: the shipped poet under engine settings, JSON {name: {top_p, temperature, "
        "oversample, regroup, repeat, topic, pair, critic}}",
    )
    variants.add_argument(
        "--samples", type=int, default=500, help="近体 poems per variant (default 500)"
    )
    variants.add_argument(
        "--ci-samples",
        type=int,
        default=100,
        help="词 poems per variant, titles and tunes of test 词 (default 100)",
    )
    variants.add_argument(
        "--judge-per-form",
        type=int,
        default=200,
        help="val poems per form the fresh judge learns from (default 200)",
    )
    variants.add_argument(
        "--skip-lm", action="store_true", help="only the comparison: no perplexity, no --n samples"
    )
    evaluate.set_defaults(func=_evaluate)
    return stages


def _common(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--out", type=Path, default=Path(default_out))
    budget = parser.add_argument_group("budget (default: one epoch)")
    budget.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    budget.add_argument("--max-minutes", type=float, help="stop when this much time is spent")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, help="per device (default: the preset's)")
    parser.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    parser.add_argument("--eval-steps", type=int, help="validate every N steps")
    parser.add_argument("--eval-blocks", type=int, default=128, help="validation blocks used")
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        help="bf16 autocast (default: on CUDA with bf16, or a CPU with AMX)",
    )
    parser.add_argument("--no-test-eval", action="store_true", help="skip test perplexity")
    _threads(parser)


def _threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: all cores; 1 is faster on a busy shared machine)",
    )


def set_threads(args: argparse.Namespace) -> None:
    if args.threads is None:
        return
    if args.threads < 1:
        raise UserError("--threads 须为正整数 / must be a positive integer")
    import torch

    torch.set_num_threads(args.threads)


def _options(args: argparse.Namespace, preset_name: str):
    from training.lm.presets import get_preset
    from training.lm.train import RunOptions

    set_threads(args)
    for name in ("batch_size", "grad_accum", "eval_steps", "eval_blocks"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} 须为正整数 / must be a positive integer")
    if args.lr is not None and args.lr <= 0:
        raise UserError("--lr 须为正数 / must be positive")
    return RunOptions(
        corpus=args.corpus,
        out=args.out,
        preset=get_preset(preset_name),
        seed=args.seed,
        max_steps=args.max_steps,
        max_minutes=args.max_minutes,
        resume=args.resume,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        grad_accum=args.grad_accum,
        eval_steps=args.eval_steps,
        eval_blocks=args.eval_blocks,
        bf16=args.bf16,
        test_eval=not args.no_test_eval,
    )


def _pretrain(args: argparse.Namespace) -> int:
    from training.lm.train import pretrain

    info = pretrain(
        _options(args, args.preset),
        tokenizer_dir=args.tokenizer,
        min_char_count=args.min_char_count,
        min_tune_count=args.min_tune_count,
    )
    _summary(info, args.out)
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from model.checkpoint import read_info
    from training.lm.train import FINETUNE_FORMS, finetune

    preset = args.preset or read_info(args.init).get("preset", {}).get("name", "small")
    forms = tuple(f.strip() for f in args.forms.split(",") if f.strip()) if args.forms else None
    info = finetune(
        _options(args, preset),
        init=args.init,
        forms=forms or FINETUNE_FORMS,
        only_conforming=args.only_conforming,
        min_tune_count=args.min_tune_count,
    )
    _summary(info, args.out)
    return 0


def _summary(info: dict, out: Path) -> None:
    from training.lm.train import key_values

    if not info:  # a non-main process of a multi-GPU run
        return
    metrics = info["metrics"]
    shown = {k: v for k, v in metrics.items() if k.startswith(("test_ppl", "best_val_ppl"))}
    shown.update(steps=metrics["steps"], tokens_per_s=round(metrics["tokens_per_s"]))
    print("训练完成 done: " + key_values(shown))
    print(f"模型已保存 saved: {out}")


def _evaluate(args: argparse.Namespace) -> int:
    from training.lm.evaluate import evaluate_command

    set_threads(args)
    return evaluate_command(args)
