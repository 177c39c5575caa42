"""The pieces every process shares: the command line, settings and (later) the queue protocol.

Nothing here imports torch or python-telegram-bot.
"""
