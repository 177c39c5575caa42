"""`yinshi`: one console script; each package registers its own sub-commands.

Sub-command modules import heavy libraries (torch, telegram) inside their handlers, so
`yinshi analyze` starts fast and works on a bot-only install.
"""

import argparse
import sys

from yinshi.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    from bot import cli as bot_cli
    from model import cli as model_cli
    from training import cli as training_cli
    from yinshi import cli_ask
    from yinshi import run as run_cli

    parser = argparse.ArgumentParser(prog="yinshi", description="吟诗 — classical Chinese poet")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    training_cli.register(commands)
    model_cli.register(commands)
    bot_cli.register(commands)
    cli_ask.register(commands)
    run_cli.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except UserError as error:
        print(f"yinshi: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
