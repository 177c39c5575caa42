"""Perplexity of poem bodies given their prompt: the number training is judged by.

Only the body tokens (characters, punctuation and the final ``<eos>``) are scored; the prompt
(form, tune, title) is context. So the figure says how well the model writes a poem of a
given form and title, and does not reward it for guessing titles.
"""

import math
from collections.abc import Mapping

from model.prompt import body_text, prompt_text
from training.lm.data import IGNORE, encode
from yinshi.prosody.forms import REGULAR_FORMS

GROUPS = {
    "jinti": lambda record: record["form"] in REGULAR_FORMS,
    "ci": lambda record: record["form"] == "词",
    "all": lambda record: True,
}
"""近体 (五绝 七绝 五律 七律), 词, and every test work."""


def scored_example(record: Mapping, tunes: set[str]) -> tuple[str, str]:
    tune = record.get("tune") if record.get("tune") in tunes else None
    return prompt_text(record["form"], record.get("title") or "", tune), body_text(record["text"])


def body_nll(model, tokenizer, records: list[Mapping], tunes: set[str], batch_size: int = 32):
    """Summed negative log-likelihood (nats) and token count of the bodies, per record."""
    import torch

    max_len = model.config.n_positions
    pairs = [scored_example(r, tunes) for r in records]
    prompts = encode(tokenizer, [p for p, _ in pairs])
    bodies = encode(tokenizer, [b for _, b in pairs])
    examples = []
    for prompt, body in zip(prompts, bodies, strict=True):
        ids = (prompt + body)[:max_len]
        labels = ([IGNORE] * len(prompt) + body)[:max_len]
        examples.append((ids, labels))
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    device = next(model.parameters()).device
    results: list[tuple[float, int]] = [(0.0, 0)] * len(examples)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(examples[i][0]) for i in chunk)
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                seq, lab = examples[i]
                ids[row, : len(seq)] = torch.tensor(seq)
                labels[row, : len(lab)] = torch.tensor(lab)
                mask[row, : len(seq)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            # predict token t+1 from position t: [batch, width-1, vocab] against [batch, width-1]
            targets = labels[:, 1:].to(device)
            nll = torch.nn.functional.cross_entropy(
                logits[:, :-1].transpose(1, 2), targets, ignore_index=IGNORE, reduction="none"
            )  # [batch, width-1]
            counts = (targets != IGNORE).sum(dim=1)
            for row, i in enumerate(chunk):
                results[i] = (nll[row].sum().item(), int(counts[row]))
    return results


def perplexities(model, tokenizer, records: list[Mapping], tunes: set[str]) -> dict:
    """``{group: {"ppl", "tokens", "poems"}}`` for each group with at least one work."""
    results = body_nll(model, tokenizer, records, tunes)
    report = {}
    for group, belongs in GROUPS.items():
        picked = [res for record, res in zip(records, results, strict=True) if belongs(record)]
        tokens = sum(n for _, n in picked)
        if tokens:
            nll = sum(s for s, _ in picked)
            report[group] = {"ppl": math.exp(nll / tokens), "tokens": tokens, "poems": len(picked)}
    return report
