"""Sub-commands of the model side: `analyze` (the 格律 engine on a poem from the command line)."""

import argparse
import sys

from yinshi.printing import print_analysis, print_poems
from yinshi.prosody.schemes import SCHEMES
from yinshi.request_args import add_request_arguments, request_from_args, validated


def register(commands: argparse._SubParsersAction) -> None:
    analyze = commands.add_parser(
        "analyze",
        help="检查一首诗的格律 / check a poem's tones, rhyme and form",
        description="标出每字平仄，检查近体诗或词牌的格律。 Mark each character's tone and "
        "check the rules of regular verse or a ci tune.",
    )
    analyze.add_argument("text", metavar="TEXT", help="the poem; - reads it from standard input")
    analyze.add_argument(
        "--form", help="五绝 七绝 五律 七律 … or a 词牌 name (default: from the poem's shape)"
    )
    analyze.add_argument(
        "--scheme", choices=SCHEMES, default="pingshui", help="pingshui 平水韵 or xinyun 中华新韵"
    )
    analyze.add_argument("--json", dest="as_json", action="store_true", help="print JSON")
    analyze.set_defaults(func=_analyze)

    poem = commands.add_parser(
        "poem",
        help="作诗 / write poems that keep their form's tones and rhymes",
        description="按体裁、藏头或首句作诗，平仄押韵皆合格律。 Write regular verse or a ci "
        "whose tones and rhymes are right by construction.",
    )
    add_request_arguments(poem)
    poem.add_argument("--model", dest="model_dir", help="checkpoint dir (default: the shipped one)")
    poem.set_defaults(func=_poem)

    worker = commands.add_parser(
        "worker",
        help="生成工作进程 / serve poem requests from the Redis queue",
        description="从 Redis 队列取请求，成批作诗。 Read requests from the Redis queue and "
        "answer them in batches. Settings also come from the environment (REDIS_URL, "
        "YINSHI_*: see yinshi/settings.py); flags win.",
    )
    worker.add_argument("--device", choices=("auto", "cuda", "cpu"), help="default: auto")
    worker.add_argument("--max-batch", type=int, help="requests per generation call (32)")
    worker.add_argument("--max-wait-ms", type=int, help="wait to fill a batch (20)")
    worker.add_argument("--model", dest="model_dir", help="checkpoint dir (the shipped one)")
    worker.add_argument("--metrics-port", type=int, help="serve /metrics and /healthz")
    worker.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    worker.set_defaults(func=_worker)


def _analyze(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    return print_analysis(text, args.form, args.scheme, args.as_json)


def _poem(args: argparse.Namespace) -> int:
    from model.checkpoint import resolve
    from yinshi.errors import UserError

    request = request_from_args(args)
    try:
        resolve(args.model_dir)
    except UserError as error:
        if args.model_dir:
            raise
        hint = "请先运行 make model 或用 --model 指定 / run `make model`"
        raise UserError(f"{error}；{hint}") from None

    from transformers.utils import logging as transformers_logging

    from model.generation import load_generator

    transformers_logging.disable_progress_bar()  # stderr is for the one-line error
    result = load_generator(args.model_dir).generate([request])[0]
    if isinstance(result, Exception):
        raise UserError(str(result))
    return print_poems(result, args.as_json)


def _worker(args: argparse.Namespace) -> int:
    from model.worker import run
    from yinshi.settings import WorkerSettings

    flags = ("device", "max_batch", "max_wait_ms", "model_dir", "metrics_port", "threads")
    overrides = {name: getattr(args, name) for name in flags if getattr(args, name) is not None}
    return run(validated(WorkerSettings, "设置有误 bad setting", **overrides))
