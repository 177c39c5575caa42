"""Sub-commands of the training side: `corpus`, `train`, `eval`."""

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    from training.adversarial.cli import register as register_adversarial
    from training.corpus.cli import register as register_corpus
    from training.lm.cli import register as register_lm

    register_corpus(commands)
    register_adversarial(register_lm(commands))
