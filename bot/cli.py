"""Sub-commands of the bot side."""

import argparse

DEMO_POEM = "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="run the main job (for now: a 格律 analysis demo)")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # Until the bot and the worker exist, the main job shows what the 格律 engine sees.
    from model.cli import print_analysis

    print_analysis(DEMO_POEM, form=None, scheme="pingshui", as_json=False)
    return 0
