"""What workers report in Redis: a Redis that does not answer costs the figures, never the run or the worker; the
runs read back as cumulative histograms whatever buckets an earlier version wrote; live workers by queue."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from shared.celery import make_celery
from shared.config import Settings
from shared.task_metrics import BUCKETS, Heartbeat, bucket_of, live_workers, parse


def test_a_redis_that_does_not_answer_costs_the_figures_not_the_run(caplog: pytest.LogCaptureFixture) -> None:
    app = make_celery("unrecorded", Settings(redis_url="redis://127.0.0.1:9/0"))  # the discard port

    @app.task(name="tests.metrics.unrecorded")
    def seven() -> int:
        return 7

    with caplog.at_level(logging.WARNING, logger="shared.task_metrics"):
        assert seven.apply().get() == 7
    assert caplog.text.count("task metrics: not recorded for tests.metrics.unrecorded") == 2  # its start and end


def test_each_run_falls_in_the_first_bucket_that_holds_it() -> None:
    assert [bucket_of(s) for s in (0.0, 0.01, 0.0100001, 0.3, 120.0, 120.5)] == [
        "0.01", "0.01", "0.05", "0.5", "120.0", "+Inf",
    ]  # fmt: skip


def test_the_hash_reads_back_as_cumulative_histograms() -> None:
    raw = {
        b"start|t": b"6",
        b"count|success|t": b"4",
        b"count|retry|t": b"1",
        b"sum|t": b"3.5",
        b"bucket|0.01|t": b"2",
        b"bucket|0.75|t": b"1",  # a bound this version does not use: kept, in order
        b"bucket|1.0|t": b"1",
        b"bucket|+Inf|t": b"1",
        b"count|success|other.task|with|bars": b"2",  # a task's name is the rest of the field
        b"start|u": b"not a number",
        b"gauge|t": b"1",
        b"\xff|t": b"1",
    }
    figures = parse(raw)
    assert figures.starts == {"t": 6}
    assert figures.ends == {("t", "success"): 4, ("t", "retry"): 1, ("other.task|with|bars", "success"): 2}
    assert figures.seconds == {"t": 3.5}
    histogram = dict(figures.histogram("t"))
    assert list(histogram) == [*(repr(b) for b in sorted({*BUCKETS, 0.75})), "+Inf"]
    assert (histogram["0.01"], histogram["0.5"], histogram["0.75"], histogram["1.0"], histogram["120.0"]) == (
        2, 2, 3, 4, 4,
    )  # fmt: skip
    assert histogram["+Inf"] == 5
    assert figures.histogram("never ran") == [*((repr(b), 0) for b in BUCKETS), ("+Inf", 0)]


def test_a_heartbeat_without_redis_logs_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    beat = Heartbeat(redis.Redis.from_url("redis://127.0.0.1:9/0"), "w@host", ["classify"], interval=0.05)
    with caplog.at_level(logging.WARNING, logger="shared.task_metrics"):
        beat.start()
        time.sleep(0.2)
        beat.stop()
        beat.join(timeout=5)
    assert not beat.is_alive()
    assert caplog.text.count("heartbeat: not sent") >= 2  # it kept beating through the failures
    assert "heartbeat: not removed (it expires)" in caplog.text


def test_live_workers_are_counted_by_each_queue_they_name() -> None:
    members = [b"classifier@a|classify", b"rag@a|draft,kb", b"rag@b|draft,kb", b"odd|name@c|bulk", b"idle@d|"]
    assert live_workers(members) == {"classify": 1, "draft": 2, "kb": 2, "bulk": 1}
