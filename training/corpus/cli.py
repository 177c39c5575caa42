"""``yinshi corpus fetch|prepare|stats|usage``."""

import argparse
import json
from pathlib import Path

from yinshi.errors import UserError


def register(commands: argparse._SubParsersAction) -> None:
    corpus = commands.add_parser("corpus", help="fetch and prepare the poetry corpus")
    steps = corpus.add_subparsers(dest="corpus_command", required=True, metavar="STEP")

    fetch = steps.add_parser("fetch", help="download (npm) or take the chinese-poetry package")
    fetch.add_argument(
        "--from", dest="source", type=Path, help="a package tarball or an unpacked package/ dir"
    )
    fetch.add_argument("--data-dir", type=Path, default=Path("data"))
    fetch.set_defaults(func=_fetch)

    prepare = steps.add_parser("prepare", help="clean, classify and split the corpus")
    prepare.add_argument("--data-dir", type=Path, default=Path("data"))
    prepare.add_argument("--raw", type=Path, help="unpacked package (default DATA_DIR/raw/package)")
    prepare.add_argument("--out", type=Path, help="output dir (default DATA_DIR/corpus)")
    prepare.add_argument("--jobs", type=int, default=2, help="processes for the 格律 pass")
    prepare.set_defaults(func=_prepare)

    stats = steps.add_parser("stats", help="show the prepared corpus' statistics")
    stats.add_argument("--data-dir", type=Path, default=Path("data"))
    stats.add_argument("--corpus", type=Path, help="corpus dir (default DATA_DIR/corpus)")
    stats.add_argument("--json", action="store_true", help="print stats.json as is")
    stats.set_defaults(func=_stats)

    usage = steps.add_parser(
        "usage", help="count how poets use polyphones and line ends (→ yinshi/prosody/data)"
    )
    usage.add_argument("--data-dir", type=Path, default=Path("data"))
    usage.add_argument("--corpus", type=Path, help="corpus dir (default DATA_DIR/corpus)")
    usage.add_argument("--out", type=Path, help="output file (default: the shipped usage.json)")
    usage.add_argument("--jobs", type=int, default=1, help="processes for the 格律 pass")
    usage.set_defaults(func=_usage)


def _fetch(args: argparse.Namespace) -> int:
    from training.corpus.fetch import fetch

    target = fetch(args.data_dir, args.source)
    print(f"语料已就绪 corpus package ready: {target}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from training.corpus.prepare import prepare

    if args.jobs < 1:
        raise UserError(f"--jobs 须为正整数（今为 {args.jobs}） / must be at least 1")
    raw = args.raw or args.data_dir / "raw" / "package"
    out = args.out or args.data_dir / "corpus"
    stats = prepare(raw, out, jobs=args.jobs)
    print(format_stats(stats))
    print(f"写入 written: {out}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from training.corpus.prepare import load_stats

    stats = load_stats(args.corpus or args.data_dir / "corpus")
    print(json.dumps(stats, ensure_ascii=False, indent=2) if args.json else format_stats(stats))
    return 0


def _usage(args: argparse.Namespace) -> int:
    from training.corpus.usage import run
    from yinshi.prosody.usage import DEFAULT_PATH

    if args.jobs < 1:
        raise UserError(f"--jobs 须为正整数（今为 {args.jobs}） / must be at least 1")
    summary = run(args.corpus or args.data_dir / "corpus", args.out or DEFAULT_PATH, args.jobs)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def _counts(counts: dict) -> str:
    return "  ".join(f"{key} {value}" for key, value in counts.items())


def format_stats(stats: dict) -> str:
    """The stats as a few readable lines."""
    lines = [
        f"作品 records: {stats['records']}  ({_counts(stats['by_split'])})",
        f"来源 sources: {_counts(stats['by_source'])}",
        f"体裁 forms: {_counts(stats['by_form'])}",
        f"字数 characters: {stats['chars_total']}  不同字 distinct: {stats['chars_distinct']}",
        f"词牌 ci tunes: {stats['ci_tunes']} (≥5 首: {stats['ci_tunes_with_5']})  "
        f"曲牌 qu tunes: {stats['qu_tunes']}",
        f"剔除 dropped: {_counts(stats['dropped']) or 0}  "
        f"重复 duplicates: {sum(stats['duplicates'].values())}",
    ]
    shares = "  ".join(
        f"{form} {row['share']:.1%} ({row['conforming']}/{row['poems']})"
        for form, row in stats["conformance"].items()
        if row["poems"]
    )
    lines.append(f"合律 conformance: {shares}")
    lines.append(f"用时 wall time: {stats['wall_seconds']} s")
    return "\n".join(lines)
