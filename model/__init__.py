"""The model at inference: the 格律 engine, constrained generation, the worker, the shipped checkpoint.

Importing this package must stay cheap and torch-free: the bot imports `model.prosody`.
"""
