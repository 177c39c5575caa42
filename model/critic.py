"""The critic: how real a poem reads, judged on the poet's own hidden states.

Reranking candidates by a discriminator's log P(real) makes the poet's choices read more like
real verse, but that discriminator is a second GPT-2 (22 MB) that does not fit beside the 21 MB
poet under the repository's 30 MB limit for shipped weights. The poet's own states already
carry what a classifier needs, so a logistic head on them does the job in a few KB:
``critic.safetensors`` beside the poet's weights (its header names the layer it reads and the
forms it knows; ``critic.json`` holds its alpha and how well it did), fitted by
``yinshi train critic``. Scoring costs next to nothing: the engine's decoder pools the states
of that block as it writes (`Candidate.pooled`); a candidate without them costs one batched
forward of the poet's lower layers. No second model in memory. Torch is imported only when
used.
"""

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yinshi.errors import UserError

FILE_NAME = "critic.safetensors"
"""Beside the poet's weights: where `load_generator` looks for it."""
INFO_FILE = "critic.json"
DEFAULT_ALPHA = 10.0
"""The critic's reranking weight: at 10 its log P(real) all but decides among the candidates
(the model's own log-prob only breaks near-ties). Against 1, a fresh judge told the poems
from real ones less well in two comparisons (with top-p 1.0; model card)."""
LAYER = 2
"""Whose output is read: on the shipped 4-layer poet (300 poems a form), the states after
block 2 told real from generated about best (held-out AUC 0.986, against 0.973 after block 1,
0.987 after block 3, 0.978 for the final normalised states) at half the cost of the forward."""
BATCH = 64
"""Poems per forward when extracting features for training (the engine passes whole chunks)."""
TENSORS = ("mean", "scale", "weight", "bias")


class _Enough(Exception):
    """Raised once the block read has run: the blocks above it are not needed."""


def features(model, tokenizer, prompts: Sequence[str], bodies: Sequence[str], layer: int = LAYER):
    """[poems, hidden] float32: the output of block ``layer`` (1-based) mean-pooled over each
    body, read in one forward that stops there.

    ``prompts`` as the poet is prompted (``<bos><form>title<sep>``), so the states are those of
    the poet writing that poem; ``bodies`` are the lines with their marks. Right-padded:
    padding comes after every body token, so it changes no state that is pooled. ``<eos>`` is
    left out (it adds nothing), which makes these exactly the states the decoder computes as
    it feeds each sampled token. The poem's log-prob is no feature on purpose: it separates
    real from generated even better (the poet's samples are likelier than real verse), but a
    critic that learnt "less likely is more real" would only undo the log-prob ranking.
    The stop is a hook on that block while this forward runs: nothing else may run the model
    meanwhile (a worker runs one batch at a time).
    """
    import torch

    encode = tokenizer.backend_tokenizer.encode_batch
    heads = [e.ids for e in encode(list(prompts), add_special_tokens=False)]
    tails = [e.ids for e in encode(list(bodies), add_special_tokens=False)]
    count, width = len(heads), max(len(h) + len(t) for h, t in zip(heads, tails, strict=True))
    ids = torch.full((count, width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((count, width), dtype=torch.long)
    body = torch.zeros((count, width, 1))
    for b, (head, tail) in enumerate(zip(heads, tails, strict=True)):
        ids[b, : len(head) + len(tail)] = torch.tensor(head + tail)
        mask[b, : len(head) + len(tail)] = 1
        body[b, len(head) : len(head) + len(tail)] = 1.0

    kept = []

    def keep(module, args, output) -> None:
        kept.append(output[0] if isinstance(output, tuple) else output)  # transformers 4: tuple
        raise _Enough

    device = model.device
    hook = model.transformer.h[layer - 1].register_forward_hook(keep)
    try:
        with torch.inference_mode():
            model.transformer(input_ids=ids.to(device), attention_mask=mask.to(device))
    except _Enough:
        pass
    finally:
        hook.remove()
    states = kept[0].float()  # [poems, width, hidden]
    body = body.to(device)
    return ((states * body).sum(1) / body.sum(1)).cpu()  # [poems, hidden]


@dataclass
class Head:
    """Logistic regression on standardised features: ((x - mean) / scale) · weight + bias."""

    mean: Any
    scale: Any
    weight: Any
    bias: Any
    layer: int = LAYER
    forms: frozenset[str] = frozenset()
    """What it was trained on (a layout's form: 七绝, or a 词牌): it has no opinion on others."""

    def logits(self, x):
        return ((x - self.mean) / self.scale) @ self.weight + self.bias


def load_head(path: Path, model) -> Head:
    """The head in ``path``, checked against the poet it will read; a broken or foreign file is
    a one-line `UserError`."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as stored:
            names = stored.keys()
            tensors = {name: stored.get_tensor(name).float() for name in names}
            header = stored.metadata() or {}
        layer = int(header.get("layer", ""))
    except (OSError, SafetensorError, ValueError) as error:
        raise UserError(f"无法加载评判头 {path} / cannot load the critic: {error}") from error
    width = model.config.n_embd
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    expected = {"mean": (width,), "scale": (width,), "weight": (width,), "bias": ()}
    fits = shapes == expected and 1 <= layer <= model.config.n_layer
    if not fits or not all(t.isfinite().all() for t in tensors.values()):
        raise UserError(f"评判头 {path} 与模型不符 / the critic does not fit this poet ({shapes})")
    forms = frozenset(header.get("forms", "").split(","))
    return Head(**tensors, layer=layer, forms=forms)


def digest(path: Path) -> str:
    """The first 12 hex digits of the file's sha256: a retrained critic never hits old caches."""
    with path.open("rb") as data:
        return hashlib.file_digest(data, "sha256").hexdigest()[:12]


class CriticScore:
    """The engine's score: `steered_logprob` + ``alpha`` × log P(real) from the critic.

    Callable on one candidate like any score, and with `batch` for a whole chunk, which the
    engine prefers: one forward of the poet per chunk instead of one per candidate.
    """

    def __init__(self, model, tokenizer, head: Head, alpha: float, version: str):
        if not alpha >= 0 or not math.isfinite(alpha):
            raise UserError("alpha 须为非负有限数 / must be finite and not negative")
        self.model = model
        self.tokenizer = tokenizer
        self.head = head
        self.alpha = alpha
        self.version = version
        """Names the head and its weight: part of the generator's model version."""

    def __call__(self, candidate) -> float:
        return self.batch([candidate])[0]

    def log_realness(self, prompts: Sequence[str], bodies: Sequence[str]) -> list[float]:
        """log P(real) of each poem: the log-sigmoid of the head's logit (never -inf)."""
        import torch.nn.functional as F

        x = features(self.model, self.tokenizer, prompts, bodies, self.head.layer)
        return F.logsigmoid(self.head.logits(x)).tolist()

    @property
    def forms(self) -> frozenset[str]:
        """The forms it has an opinion on."""
        return self.head.forms

    def prefix(self, steered: Sequence[float], pooled) -> list[float]:
        """Scores of unfinished poems of forms it knows, from their `steered` log-prob so far
        and their states pooled so far: the same sum as `batch`, read part-way (a whole
        poem's pooled states are the mean of its parts')."""
        import torch.nn.functional as F

        real = F.logsigmoid(self.head.logits(pooled)).tolist()
        return [s + self.alpha * r for s, r in zip(steered, real, strict=True)]

    @property
    def layer(self) -> int:
        """The block whose states the engine pools while decoding, for `batch` to read."""
        return self.head.layer

    def batch(self, candidates: Sequence) -> list[float]:
        """Scores of the candidates; those of forms the head knows get its log P(real), read
        from the states the decoder pooled (`Candidate.pooled`) or, where it did not, from one
        forward over them all. The others keep the engine's score alone (a head never
        trained on a 词 has no opinion on one)."""
        import torch
        import torch.nn.functional as F

        from model.generation.ranking import steered_logprob

        judged = [i for i, c in enumerate(candidates) if c.layout.form in self.head.forms]
        logs = {}
        if judged and all(candidates[i].pooled is not None for i in judged):
            x = torch.stack([candidates[i].pooled for i in judged])
            logs = dict(zip(judged, F.logsigmoid(self.head.logits(x)).tolist(), strict=True))
        elif judged:
            found = self.log_realness(
                [candidates[i].layout.prompt for i in judged],
                ["".join(candidates[i].lines) for i in judged],
            )
            logs = dict(zip(judged, found, strict=True))
        return [
            steered_logprob(c) + self.alpha * logs.get(i, 0.0) for i, c in enumerate(candidates)
        ]


def read_alpha(model_dir: Path) -> float:
    """The alpha ``critic.json`` recommends, or `DEFAULT_ALPHA` without one."""
    info = model_dir / INFO_FILE
    if not info.is_file():
        return DEFAULT_ALPHA
    try:
        return float(json.loads(info.read_text(encoding="utf-8")).get("alpha", DEFAULT_ALPHA))
    except (ValueError, TypeError, AttributeError) as error:
        raise UserError(f"{info} 不是合法的评判记录 / invalid critic record: {error}") from error


def load_critic_score(
    model_dir: Path, model, tokenizer, alpha: float | None = None
) -> CriticScore | None:
    """The critic beside ``model_dir``'s weights, reading with ``model`` (the poet itself), or
    None where there is none or its weight is 0. ``alpha`` None: the one its record recommends.
    """
    path = Path(model_dir) / FILE_NAME
    if alpha == 0 or not path.is_file():
        return None
    alpha = read_alpha(Path(model_dir)) if alpha is None else alpha
    if alpha == 0:
        return None
    head = load_head(path, model)
    return CriticScore(model, tokenizer, head, alpha, f"critic-{digest(path)}@{alpha:g}")
