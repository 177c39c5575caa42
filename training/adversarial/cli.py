"""``yinshi train discriminator|critic|adversarial``: stages of ``train`` (training/lm/cli.py)."""

import argparse
from pathlib import Path

from model.critic import DEFAULT_ALPHA, LAYER
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

    critic = stages.add_parser(
        "critic", help="fit a small real-vs-generated head on the poet's own states, for reranking"
    )
    critic.add_argument("--generator", type=Path, required=True, help="the poet's checkpoint dir")
    critic.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    critic.add_argument(
        "--n-per-form", type=int, default=400, help="real poems per form, as many fakes"
    )
    critic.add_argument(
        "--alpha", type=float, default=DEFAULT_ALPHA, help="the reranking weight it recommends"
    )
    critic.add_argument(
        "--layer", type=int, default=LAYER, help="the poet's block whose output it reads"
    )
    critic.add_argument("--seed", type=int, default=0)
    critic.add_argument("--threads", type=int, help="CPU threads for torch")
    critic.set_defaults(func=_critic)

    adversarial = stages.add_parser(
        "adversarial", help="policy-gradient fine-tuning of the poet against the discriminator"
    )
    adversarial.add_argument("--init", type=Path, required=True, help="the poet's checkpoint dir")
    adversarial.add_argument("--discriminator", type=Path, help="default: INIT/discriminator")
    adversarial.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    adversarial.add_argument("--out", type=Path, default=Path("runs/adversarial"))
    adversarial.add_argument("--steps", type=int, required=True, help="policy updates")
    adversarial.add_argument("--batch-size", type=int, default=32, help="poems per step")
    adversarial.add_argument("--lr", type=float, default=1e-5)
    adversarial.add_argument("--kl-coef", type=float, default=0.5, help="weight of KL to INIT")
    adversarial.add_argument(
        "--d-every", type=int, default=2, help="update the discriminator every K steps"
    )
    adversarial.add_argument(
        "--d-steps", type=int, default=2, help="discriminator updates each time (0: fixed)"
    )
    adversarial.add_argument("--seed", type=int, default=0)
    adversarial.add_argument("--max-minutes", type=float, help="stop when this much time is spent")
    adversarial.add_argument("--threads", type=int, help="CPU threads for torch")
    adversarial.set_defaults(func=_adversarial)


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


def _critic(args: argparse.Namespace) -> int:
    from model.checkpoint import resolve
    from training.lm.cli import set_threads

    resolve(args.generator)  # a missing checkpoint fails before torch is imported
    set_threads(args)
    from training.adversarial.critic import Options, train_critic
    from training.lm.train import key_values

    info = train_critic(
        Options(
            generator=args.generator,
            corpus=args.corpus,
            n_per_form=args.n_per_form,
            alpha=args.alpha,
            layer=args.layer,
            seed=args.seed,
        )
    )
    shown = {k: info[k] for k in ("test_auc", "train_real", "test_real", "l2", "seconds")}
    print("评判头训练完成 done: " + key_values(shown))
    print(f"已保存 saved: {args.generator / 'critic.safetensors'}")
    return 0


def _adversarial(args: argparse.Namespace) -> int:
    from model.checkpoint import resolve
    from model.discriminator import DIR_NAME
    from training.lm.cli import set_threads

    if args.steps < 1 or args.d_every < 1:
        raise UserError("--steps / --d-every 须为正整数 / must be positive integers")
    if args.batch_size < 2:
        raise UserError("--batch-size 至少为 2（基线取批内均值） / must be at least 2")
    if args.lr <= 0 or args.kl_coef < 0 or args.d_steps < 0:
        raise UserError("--lr 须为正数，--kl-coef / --d-steps 不可为负 / out of range")
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise UserError("--max-minutes 须为正数 / must be positive")
    resolve(args.init)  # a missing checkpoint fails before torch is imported
    judge = args.discriminator or args.init / DIR_NAME
    if not (judge / "config.json").is_file():
        raise UserError(
            f"找不到判别器 {judge}；请先运行 yinshi train discriminator --generator {args.init} "
            "/ train one first"
        )
    set_threads(args)
    from training.adversarial.reinforce import Options, train_adversarial
    from training.lm.train import key_values

    summary = train_adversarial(
        Options(
            init=args.init,
            corpus=args.corpus,
            out=args.out,
            steps=args.steps,
            discriminator=judge,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            kl_coef=args.kl_coef,
            d_every=args.d_every,
            d_steps=args.d_steps,
            seed=args.seed,
            max_minutes=args.max_minutes,
        )
    )
    shown = {k: summary[k] for k in ("steps", "final_reward", "final_kl", "seconds")}
    print("对抗训练完成 done: " + key_values(shown))
    print(f"已保存 saved: {args.out}")
    return 0
