"""Serving under load: K concurrent clients → Redis → one CPU worker, max-batch 1 vs 32.

Prints one JSON object: per max-batch the throughput and p50/p95 latency (from the client's
call to its answer, queueing included), the batching speed-up, the p50 of cache hits, and how
many answers were lost or duplicated. Every request of the throughput runs is `fresh`, so the
cache never answers for the worker; the cache is measured separately afterwards.

    python bench/serve.py --clients 64 --requests 1000 --requests-unbatched 64

The worker runs in its own process on the shipped model (model/weights/small) unless --model
says otherwise. Redis is a fresh redis-server on a free loopback port.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import TOPICS, free_port, percentile, shipped_model, start_redis  # noqa: E402

from yinshi import keys  # noqa: E402
from yinshi.client import PoetClient  # noqa: E402
from yinshi.connection import connect  # noqa: E402
from yinshi.errors import ServiceError  # noqa: E402
from yinshi.protocol import PoemRequest  # noqa: E402
from yinshi.settings import WorkerSettings  # noqa: E402


def worker_main(settings: WorkerSettings) -> None:
    """The worker process: quiet logs (one line per request would flood the terminal)."""
    import logging

    from model.worker import run

    logging.basicConfig(level=logging.WARNING)
    run(settings)


async def load(client: PoetClient, clients: int, requests: int, timeout: float) -> dict:
    """``requests`` fresh requests from ``clients`` concurrent callers, each one at a time."""
    queue = list(range(requests))
    latencies: list[float] = []
    lost = 0

    async def caller() -> None:
        nonlocal lost
        while queue:
            i = queue.pop()
            request = PoemRequest(topic=TOPICS[i % len(TOPICS)], seed=i)
            started = time.perf_counter()
            try:
                result = await client.generate(request, timeout=timeout, fresh=True)
            except ServiceError:
                lost += 1
                continue
            latencies.append(time.perf_counter() - started)
            if result.poems[0].title != request.topic:  # someone else's answer
                lost += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(clients)))
    seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": requests,
        "seconds": round(seconds, 2),
        "poems_per_s": round(len(latencies) / seconds, 2),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95) * 1000, 1) if latencies else None,
        "lost": lost,
    }


def mean_batch(metrics_port: int) -> float:
    """Requests per generation call, from the worker's own metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
        samples = dict(
            line.rsplit(" ", 1) for line in page.read().decode().splitlines() if line[:1] != "#"
        )
    return round(
        float(samples["yinshi_batch_size_sum"]) / float(samples["yinshi_batch_size_count"]), 1
    )


async def duplicates(redis) -> int:
    """Answers nobody took: with every requester answered, each one is a second answer."""
    await asyncio.sleep(1.0)
    return len([key async for key in redis.scan_iter(match=keys.reply("*"))])


async def measure(url: str, max_batch: int, requests: int, args: argparse.Namespace) -> dict:
    redis = connect(url)
    try:
        await redis.delete(keys.MODEL_VERSION)
        spawn = multiprocessing.get_context("spawn")
        metrics_port = free_port()
        settings = WorkerSettings(
            redis_url=url,
            model_dir=args.model,
            device="cpu",
            max_batch=max_batch,
            worker_name=f"bench-{max_batch}",
            metrics_port=metrics_port,
        )
        worker = spawn.Process(target=worker_main, args=(settings,))
        worker.start()
        try:
            async with asyncio.timeout(args.worker_start_s):
                while await redis.get(keys.MODEL_VERSION) is None:
                    await asyncio.sleep(0.2)
            client = PoetClient(redis, timeout_s=args.timeout, max_queue=10 * requests)
            result = await load(client, args.clients, requests, args.timeout)
            result["duplicated"] = await duplicates(redis)
            result["mean_batch"] = await asyncio.to_thread(mean_batch, metrics_port)
            if max_batch > 1:
                result["cache_hit"] = await cache_hits(client, args.cache_requests)
            return result
        finally:
            os.kill(worker.pid, signal.SIGTERM)
            worker.join(60)
    finally:
        await redis.aclose()


async def cache_hits(client: PoetClient, requests: int) -> dict:
    """Sequential asks for a topic whose pool the load run filled."""
    request = PoemRequest(topic=TOPICS[0])
    await client.generate(request)  # warm: the pool exists after the load run anyway
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        result = await client.generate(request)
        latencies.append(time.perf_counter() - started)
        assert result.stats.get("cache_hit") == 1
    latencies.sort()
    return {
        "requests": requests,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="checkpoint dir (default: the shipped one)")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=1000, help="for max-batch 32")
    parser.add_argument("--requests-unbatched", type=int, default=64, help="for max-batch 1")
    parser.add_argument("--cache-requests", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--worker-start-s", type=float, default=300.0)
    args = parser.parse_args()
    args.model = shipped_model(args.model)
    with tempfile.TemporaryDirectory(prefix="yinshi-bench-") as work:
        redis_process, url = start_redis(Path(work))
        try:
            unbatched = asyncio.run(measure(url, 1, args.requests_unbatched, args))
            batched = asyncio.run(measure(url, 32, args.requests, args))
        finally:
            redis_process.terminate()
            redis_process.wait(10)
    cache_hit = batched.pop("cache_hit")
    speedup = batched["poems_per_s"] / unbatched["poems_per_s"]
    lost = unbatched["lost"] + batched["lost"]
    duplicated = unbatched["duplicated"] + batched["duplicated"]
    result = {
        "bench": "serve",
        "model": str(args.model),
        "clients": args.clients,
        "max_batch_1": unbatched,
        "max_batch_32": batched,
        "batching_speedup": round(speedup, 2),
        "cache_hit": cache_hit,
        "lost": lost,
        "duplicated": duplicated,
        "goals": {
            "batching_5x": speedup >= 5,
            "cache_hit_p50_le_5ms": cache_hit["p50_ms"] <= 5,
            "none_lost_or_duplicated": lost == 0 and duplicated == 0,
        },
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
