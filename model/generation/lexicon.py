"""What real poets write about a title and how they pair a couplet: two sparse tables.

`lexicon.safetensors` beside the weights holds, per token id of the poet's vocabulary,
its ``K`` strongest partners (ids and log-ratio scores, built by `training.corpus.lexicon`
from the training split):

- ``topic``: a title character → body characters that real poems under titles with it use
  far more often than poems in general (春 → 花 柳 莺 …; 江 → 帆 舟 潮 …). The decoder
  multiplies each candidate's probabilities by exp(β·score) of its title's partners, so a
  poem titled 春江 leans towards the river in spring from its first character on — without
  a second forward pass (classifier-free guidance would double the decoding cost).
- ``pair``: a character of the first line of a 律诗's 颔联/颈联 → the characters real poets
  set against it at the same position of the second line (山 → 水, 红 → 绿/白, 三 → 万 …).
  Leaning the second line towards them is what makes the couplet 对仗.
- ``doubling``: per character, how readily real poets double it into a 叠字 (萧萧 漫漫 年年),
  as a weight in [0, 1]: the 重字 penalty spares a 叠字's second half only as far as this says,
  so the poet writes 悠悠 but not 出出.

Scores are clipped to [0, `MAX_SCORE`]: a partner is only ever favoured, never banned, so the
tables can shift taste but not break form (the 格律 mask is applied on top, unchanged).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

FILE_NAME = "lexicon.safetensors"
MAX_SCORE = 4.0


@dataclass(frozen=True)
class Lexicon:
    topic_ids: torch.Tensor
    """[V, K] long: partner ids of each title character (0 = padding, score 0)."""
    topic_scores: torch.Tensor
    """[V, K] float: their log-ratio scores in [0, MAX_SCORE]."""
    pair_ids: torch.Tensor
    """[V, K] long: partners of each first-line character at the same position below."""
    pair_scores: torch.Tensor
    doubling: torch.Tensor
    """[V] float in [0, 1]."""

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "Lexicon":
        tensors = load_file(str(path))
        return cls(
            topic_ids=tensors["topic_ids"].long().to(device),
            topic_scores=tensors["topic_scores"].float().clamp(0, MAX_SCORE).to(device),
            pair_ids=tensors["pair_ids"].long().to(device),
            pair_scores=tensors["pair_scores"].float().clamp(0, MAX_SCORE).to(device),
            doubling=tensors["doubling"].float().clamp(0, 1).to(device),
        )

    def topic(self, title_ids: list[list[int]], size: int) -> torch.Tensor:
        """[rows, size] each token's topic scores summed over the row's distinct title
        characters, at most `MAX_SCORE`: each character names something the poem should
        touch (春 and 江 both), so a longer title pulls more ways rather than each of its
        characters less (on 80 test titles, retrieval@20 of the poems was 0.37 with the mean,
        0.49 with the sum; the real poems' 0.47)."""
        out = torch.zeros(len(title_ids), size, device=self.topic_ids.device)
        for row, ids in enumerate(title_ids):
            for token in dict.fromkeys(ids):
                out[row].scatter_add_(0, self.topic_ids[token], self.topic_scores[token])
        return out.clamp_(max=MAX_SCORE)

    def pair(self, first: torch.Tensor, size: int) -> torch.Tensor:
        """[rows, size] pair score of each token against each row's aligned character ``first``."""
        out = torch.zeros(len(first), size, device=self.pair_ids.device)
        return out.scatter_(1, self.pair_ids[first], self.pair_scores[first])


def save_lexicon(path: str | Path, tables: dict[str, torch.Tensor]) -> None:
    """Write the tables compactly (int16 ids, fp16 scores), atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    compact = {
        name: tensor.to(torch.int16 if name.endswith("_ids") else torch.float16).contiguous()
        for name, tensor in tables.items()
    }
    temporary = path.with_name(path.name + ".tmp")
    save_file(compact, str(temporary))
    temporary.replace(path)
