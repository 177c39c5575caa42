"""Generation speed: stock `model.generate` vs our constrained batched loop, in one run.

Prints one JSON object:
- `stock_poems_per_s`: one 七绝 at a time with stock `model.generate` (top-p sampling, no
  constraints, exactly a 七绝's body length) — the baseline;
- `engine[B]`: `Generator.generate` on B 七绝 requests (n=1): poems/s, candidates/s (each poem is
  the best of `oversample` candidates, ranked by the critic where one is shipped), seconds per
  call; planning and the 格律 check of every candidate included;
- `loop[B]`: the decoding loop alone on the same B rows, with and without the constraints (the
  格律 rules and the engine's taste): rows/s both ways and `overhead` = constrained time /
  unconstrained time − 1;
- `speedup_b32`: engine poems/s at batch 32 over the stock baseline (goal ≥ 8);
- `p50_single_qijue_s`: median wall time of one request for one 七绝 (goal ≤ 0.5 s).

    python bench/generate.py [--model DIR] [--batch 1 8 32 64] [--threads 1]
    python bench/generate.py --device cuda --dtype bf16 --batch 256

Runs on the shipped model (model/weights/small) unless --model says otherwise. Other processes
may share the CPU: compare the numbers of one run with each other.
"""

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from harness import TOPICS, shipped_model  # noqa: E402

from model.generation import load_generator  # noqa: E402
from model.generation.constraints import Constraints  # noqa: E402
from model.generation.decode import Row, decode  # noqa: E402
from model.generation.plan import choose, plan  # noqa: E402
from yinshi.protocol import PoemRequest  # noqa: E402

DTYPES = {"float32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def requests(count: int, seed: int) -> list[PoemRequest]:
    rng = random.Random(seed)
    return [
        PoemRequest(topic=rng.choice(TOPICS), form="七绝", seed=rng.randrange(2**32))
        for _ in range(count)
    ]


def timed(function, repeat: int) -> float:
    """Best of `repeat` wall times: the least disturbed by other processes."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return best


def stock(generator, count: int) -> float:
    """Seconds per poem, one at a time, with stock `model.generate` and no constraints."""
    layout = plan(requests(1, 0)[0], generator.tables("pingshui"), generator.tune_tokens)[0]
    steps = sum(spec.length + 1 for spec in layout.lines) + 1
    ids = torch.tensor([generator.encode([layout.prompt])[0]], device=generator.model.device)
    options = {
        "do_sample": True,
        "top_p": 0.9,
        "temperature": 0.8,
        "max_new_tokens": steps,
        "min_new_tokens": steps,
        "pad_token_id": generator.tokenizer.pad_token_id,
    }

    def run():
        for _ in range(count):
            generator.model.generate(ids, attention_mask=torch.ones_like(ids), **options)

    with torch.inference_mode():
        run_once = timed(run, 2)
    return run_once / count


def loop(generator, batch: int, repeat: int) -> dict:
    """The decoding loop alone on the same rows, with and without constraints."""
    tables = generator.tables("pingshui")
    rng = random.Random(batch)
    layouts = [choose(plan(r, tables, generator.tune_tokens), rng) for r in requests(batch, 1)]
    prompts = generator.encode([x.prompt for x in layouts])
    rows = [
        Row(ids, sum(s.length + 1 for s in x.lines) + 1, 0.8, 0.9, i)
        for i, (ids, x) in enumerate(zip(prompts, layouts, strict=True))
    ]
    pad = generator.tokenizer.pad_token_id
    unk = generator.tokenizer.unk_token_id

    def constrained():
        constraints = Constraints(
            tables, layouts, generator.copies, unk, generator.lexicon, generator.taste
        )
        decode(generator.model, rows, constraints, pad)

    def free():
        decode(generator.model, rows, None, pad)

    # Alternate the two, so a burst of load from other processes hits both alike.
    pairs = [(timed(constrained, 1), timed(free, 1)) for _ in range(repeat)]
    with_rules, without = min(p[0] for p in pairs), min(p[1] for p in pairs)
    return {
        "constrained_rows_per_s": round(batch / with_rules, 2),
        "unconstrained_rows_per_s": round(batch / without, 2),
        "overhead": round(with_rules / without - 1, 3),
    }


def engine(generator, batch: int, repeat: int) -> dict:
    batch_requests = requests(batch, 2)
    seconds = timed(lambda: generator.generate(batch_requests), repeat)
    return {
        "poems_per_s": round(batch / seconds, 2),
        "candidates_per_s": round(batch * generator.oversample / seconds, 2),
        "seconds": round(seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="checkpoint dir (default: the shipped one)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=DTYPES, default="float32")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--stock-poems", type=int, default=8)
    parser.add_argument("--single-runs", type=int, default=15)
    args = parser.parse_args()
    args.model = shipped_model(args.model)
    if args.threads:
        torch.set_num_threads(args.threads)
    generator = load_generator(args.model, device=args.device)
    generator.model.to(DTYPES[args.dtype])
    generator.max_rows = max(generator.max_rows, max(args.batch) * generator.oversample)
    generator.generate(requests(2, 3))  # builds the tables, warms the allocator

    stock_seconds = stock(generator, args.stock_poems)
    engines = {b: engine(generator, b, args.repeat) for b in args.batch}
    loops = {b: loop(generator, b, args.repeat) for b in args.batch}
    single = []
    for request in requests(args.single_runs, 4):
        started = time.perf_counter()
        generator.generate([request])
        single.append(time.perf_counter() - started)
    result = {
        "model": str(args.model),
        "parameters": sum(p.numel() for p in generator.model.parameters()),
        "vocab": len(generator.tokenizer),
        "device": args.device,
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "oversample": generator.oversample,
        "stock_poems_per_s": round(1 / stock_seconds, 2),
        "engine": engines,
        "loop": loops,
        "p50_single_qijue_s": round(statistics.median(single), 3),
    }
    if 32 in engines:
        result["speedup_b32"] = round(engines[32]["poems_per_s"] * stock_seconds, 2)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
