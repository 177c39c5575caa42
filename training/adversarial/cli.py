"""``yinshi train discriminator``: a stage of the ``train`` command (see training/lm/cli.py)."""

import argparse
from pathlib import Path

from yinshi.errors import UserError


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser(
        "discriminator", help="train a real-vs-generated classifier for reranking"
    )
    parser.add_argument("--generator", type=Path, required=True, help="the poet's checkpoint dir")
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--out", type=Path, help="default: GENERATOR/discriminator")
    parser.add_argument(
        "--n-per-form", type=int, default=200, help="real poems per form, as many fakes"
    )
    parser.add_argument("--max-steps", type=int, help="default: one epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from model.checkpoint import resolve
    from training.lm.cli import set_threads

    if args.batch_size < 1 or args.lr <= 0:
        raise UserError("--batch-size / --lr 须为正数 / must be positive")
    resolve(args.generator)  # a missing checkpoint fails before torch is imported
    set_threads(args)
    from training.adversarial.discriminator import Options, train_discriminator
    from training.lm.train import key_values

    info = train_discriminator(
        Options(
            generator=args.generator,
            corpus=args.corpus,
            out=args.out,
            n_per_form=args.n_per_form,
            max_steps=args.max_steps,
            seed=args.seed,
            batch_size=args.batch_size,
            learning_rate=args.lr,
        )
    )
    shown = {k: info[k] for k in ("test_auc", "train_real", "test_real", "steps", "seconds")}
    print("判别器训练完成 done: " + key_values(shown))
    print(f"已保存 saved: {args.out or args.generator / 'discriminator'}")
    return 0
