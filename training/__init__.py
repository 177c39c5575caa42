"""Offline work: corpus fetch and preparation, tokenizer, pretraining, fine-tuning, evaluation."""
