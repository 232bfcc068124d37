"""Prometheus metrics at /metrics: request latency per endpoint, booking conflicts, queue
lengths, notifications sent and failed, and the search cache's hits and misses.

prometheus-flask-exporter times every request by endpoint. Under gunicorn with several
workers set PROMETHEUS_MULTIPROC_DIR (deploy/gunicorn.conf.py does) so /metrics adds up all
workers; RQ workers write to the same directory on the same host.
"""

import os

from flask import Flask
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

BOOKING_CONFLICTS = Counter(
    "portal_booking_conflicts_total",
    "Bookings the database refused because the slot was taken meanwhile.",
)
NOTIFICATIONS = Counter(
    "portal_notifications_total",
    "Outbox rows settled by the jobs, by outcome (sent, failed).",
    ["outcome"],
)

SEARCH_CACHE = Counter(
    "portal_search_cache_total",
    "Search reads of the cache by layer (list: a whole result list; day: one doctor's free "
    "slots of one day) and result (hit, miss).",
    ["layer", "result"],
)


def count_search_cache(layer: str, hits: int, misses: int) -> None:
    """Add a lookup's hits and misses to SEARCH_CACHE."""
    if hits:
        SEARCH_CACHE.labels(layer, "hit").inc(hits)
    if misses:
        SEARCH_CACHE.labels(layer, "miss").inc(misses)


class QueueCollector:
    """Queued and failed RQ jobs, read from Redis at scrape time."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        queued = GaugeMetricFamily(
            "portal_queue_jobs", "Jobs waiting in an RQ queue.", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "portal_queue_failed_jobs", "Jobs in an RQ failed registry.", labels=["queue"]
        )
        queue = self.app.extensions.get("rq_queue")
        if queue is not None:
            try:
                queued.add_metric([queue.name], queue.count)
                failed.add_metric([queue.name], queue.failed_job_registry.count)
            except (RedisError, OSError):
                pass  # the scrape still answers; the gauges are simply absent
        yield queued
        yield failed


_process_registry_taken = False


def init_metrics(app: Flask) -> None:
    """Expose /metrics unless METRICS_ENABLED is off.

    With PROMETHEUS_MULTIPROC_DIR (gunicorn with several workers) /metrics reports on a registry
    of its own that reads every process's samples from that directory: our counters write
    there too, so they must not also be registered on it (that is a duplicate timeseries, and
    the worker would not boot). Otherwise the first app of a process reports on the
    process-wide registry, and another app in the same process (tests, scripts) gets a registry
    of its own instead of clashing with the first.
    """
    global _process_registry_taken
    if not app.config.get("METRICS_ENABLED", True):
        return
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

        registry = CollectorRegistry()
        metrics = GunicornInternalPrometheusMetrics(
            app, registry=registry, group_by="endpoint", defaults_prefix="portal"
        )
    else:
        from prometheus_flask_exporter import PrometheusMetrics

        registry = app.config.get("METRICS_REGISTRY")
        if registry is None:
            registry = CollectorRegistry() if _process_registry_taken else REGISTRY
            _process_registry_taken = True
        metrics = PrometheusMetrics(
            app, registry=registry, group_by="endpoint", defaults_prefix="portal"
        )
        if registry is not REGISTRY:
            for collector in (BOOKING_CONFLICTS, NOTIFICATIONS, SEARCH_CACHE):
                registry.register(collector)
    registry.register(QueueCollector(app))
    app.extensions["metrics"] = metrics
