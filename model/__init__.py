"""The model at inference: constrained generation, the worker, the shipped checkpoint.

The 格律 rules it writes by are shared ground (`yinshi.prosody`), which the bot uses too
without importing anything from here.
"""
