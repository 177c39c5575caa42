"""What every process shares: the 格律 rules (`prosody`), the request/response protocol, the
queue client and cache, settings, Redis key names, typed errors, the command line, `yinshi run`.

Nothing here imports torch or python-telegram-bot; only the command-line entry and `yinshi
run` start the bot, the worker or training (tests/test_layout_imports.py keeps it so).
"""
