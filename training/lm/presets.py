"""Model shapes and their training defaults, by name.

`small` is the shipped default and must train on two CPU cores in about an hour. Its shape was
chosen by measuring training tokens/s of candidates in one interleaved run on this project's
2-core AMX machine (bf16 autocast, one thread, batch 16×192, the real 9.7k-character vocab,
other jobs busy on the same cores): 256×6 821, 320×6 725, 384×4 838 tokens/s. At this size
step time hardly grows with width, so 384×4 (10.8M parameters) costs what 256×6 (7.3M) does
and learns faster per token; its weights are saved in fp16 (22 MB on disk; fp32 would be 43).
`base` is for a GPU.
"""

from dataclasses import asdict, dataclass

from yinshi.errors import UserError


@dataclass(frozen=True)
class Preset:
    name: str
    n_embd: int
    n_layer: int
    n_head: int
    block_size: int
    """Context length; poems are short, so this also bounds a fine-tuning example."""
    batch_size: int
    learning_rate: float
    warmup_steps: int
    eval_steps: int
    weight_decay: float = 0.1
    dropout: float = 0.0
    save_dtype: str = "float32"
    """`float16` halves the checkpoint on disk; inference casts back to float32 on CPU."""

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "tiny": Preset("tiny", 32, 2, 2, 64, 8, 3e-3, 2, 5),
    "small": Preset("small", 384, 4, 6, 192, 16, 1.5e-3, 50, 100, save_dtype="float16"),
    "base": Preset("base", 512, 12, 8, 256, 64, 6e-4, 1000, 1000, dropout=0.1),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UserError(f"未知预设 {name!r}，可选 / unknown preset, choose: {', '.join(PRESETS)}")
    return PRESETS[name]


def model_config(preset: Preset, tokenizer):
    """A GPT-2 config for ``preset`` sized to ``tokenizer``'s vocabulary."""
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=preset.block_size,
        n_embd=preset.n_embd,
        n_layer=preset.n_layer,
        n_head=preset.n_head,
        resid_pdrop=preset.dropout,
        embd_pdrop=preset.dropout,
        attn_pdrop=preset.dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )


def new_model(preset: Preset, tokenizer, seed: int):
    """A freshly initialised GPT-2 with SDPA attention (same seed, same weights)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = model_config(preset, tokenizer)
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
