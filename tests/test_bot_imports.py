"""The bot reaches the model only through the queue: importing it must not load torch.

`test_layout_imports` checks the source; this checks what Python actually loads, for every
module of the bot package (found by walking it, so a new module is checked too).
"""

import pkgutil
import subprocess
import sys

import bot

BOT_MODULES = sorted(module.name for module in pkgutil.walk_packages(bot.__path__, prefix="bot."))


def test_importing_the_bot_loads_no_torch():
    assert len(BOT_MODULES) > 10
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in BOT_MODULES)
        + "print(sorted(m for m in ('torch', 'transformers', 'model') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
