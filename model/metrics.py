"""The worker's Prometheus metrics and its tiny HTTP server (``/metrics``, ``/healthz``).

Each Worker gets its own registry (no process-wide globals), so tests can run several.
"""

import threading
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class SharedCounters(Collector):
    """Counters kept in Redis by every client (cache hits and misses), as last read."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name in ("cache_hit", "cache_miss"):
            yield CounterMetricFamily(
                f"yinshi_{name}",
                f"{name.replace('_', ' ')}s counted by all clients (read from Redis)",
                value=self.values.get(name, 0.0),
            )


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.queue_depth = Gauge(
            "yinshi_queue_depth", "requests waiting or in progress", registry=r
        )
        self.background_depth = Gauge(
            "yinshi_background_depth",
            "background jobs (daily poems ahead) waiting or in progress",
            registry=r,
        )
        self.batch_size = Histogram(
            "yinshi_batch_size", "requests per generation call", buckets=BATCH_BUCKETS, registry=r
        )
        self.queue_wait = Histogram(
            "yinshi_queue_wait_seconds",
            "from enqueue to the start of generation",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.generation_latency = Histogram(
            "yinshi_generation_seconds",
            "one batched generation call",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.poems_per_second = Gauge(
            "yinshi_poems_per_second", "throughput of the last batch", registry=r
        )
        self.poems = Counter("yinshi_poems_generated", "poems generated", registry=r)
        self.errors = Counter(
            "yinshi_errors", "requests answered with an error, by kind", ["kind"], registry=r
        )
        self.expired = Counter(
            "yinshi_expired_requests", "requests dropped past their deadline", registry=r
        )
        self.dead_lettered = Counter(
            "yinshi_dead_lettered", "requests moved to the dead-letter stream", registry=r
        )
        self.shared = SharedCounters()
        r.register(self.shared)


class _QuietHandler(WSGIRequestHandler):
    """Scrapes every few seconds would drown the worker's own log lines."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(
    metrics: WorkerMetrics, port: int, healthy: Callable[[], bool], host: str = "127.0.0.1"
) -> ThreadingWSGIServer:
    """Serve ``/metrics`` and ``/healthz`` (200 or 503) from a daemon thread; returns the server.

    Loopback by default: the metrics name the load and the model, and nothing outside the
    host (or the container, whose own healthcheck asks on 127.0.0.1) needs them unless a
    Prometheus is set up to scrape, with ``host="0.0.0.0"`` (`YINSHI_METRICS_HOST`).
    """
    metrics_app = make_wsgi_app(metrics.registry)

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            ok = healthy()
            start_response(
                "200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")]
            )
            return [b"ok\n" if ok else b"unhealthy\n"]
        return metrics_app(environ, start_response)

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
