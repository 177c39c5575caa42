"""The model at inference: 格律 engine, constrained generation, worker, shipped checkpoint.

Importing this package must stay cheap and torch-free: the bot imports `model.prosody`.
"""
