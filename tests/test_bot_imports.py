"""The bot reaches the model only through the queue: importing it must not load torch."""

import subprocess
import sys

BOT_MODULES = [
    "bot.app", "bot.buttons", "bot.cli", "bot.commands", "bot.daily", "bot.fake_api",
    "bot.inline", "bot.keys", "bot.occasions", "bot.parsing", "bot.ratelimit", "bot.render",
    "bot.services", "bot.store", "bot.texts",
]  # fmt: skip


def test_importing_the_bot_loads_no_torch():
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in BOT_MODULES)
        + "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
