"""The Prometheus files shipped in docker/prometheus/ (and shown in the README) against this version's scrapes: each
rule's expression parses, and every metric it selects, label it matches on and value it matches is one the gateway
or the forecast service gives, after the events that make each series appear (a real task's runs ending in each
Celery state, a sweeper pass); each label an annotation names is one its expression keeps. A metric or a label
value renamed in the code without the rules then fails here, where it would otherwise silence an alert."""

from __future__ import annotations

import re
import uuid
import warnings
from pathlib import Path
from typing import Any

import promql_parser as promql
import pytest
import redis
import yaml
from celery import signals
from celery.exceptions import DuplicateTaskNameWarning
from fastapi.testclient import TestClient

from forecast_service.main import create_app as forecast_app
from gateway.main import create_app as gateway_app
from gateway.sweeper import Swept, record_pass
from shared.config import Settings
from tests.conftest import REDIS_URL
from tests.prometheus_text import parse_samples

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "docker" / "prometheus"
OUR_PACKAGES = {"classifier_worker", "rag_worker", "gateway"}
WORKER_APPS = ("classifier_worker.worker", "rag_worker.worker", "classifier_worker.alert_worker", "gateway.bulk_worker")


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((FOLDER / "rules.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


RULES = _rules()


def _our_tasks() -> list[Any]:
    """Every task our worker apps register. Celery shares each app's tasks with every app, so other tests' ad hoc
    tasks (made again by each parametrized run) come along, with a warning for each name met twice: only our
    packages' tasks are kept, and the warnings are theirs."""
    import importlib

    tasks: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateTaskNameWarning)
        for module in WORKER_APPS:
            app = importlib.import_module(module).app
            app.loader.import_default_modules()
            tasks |= {name: task for name, task in app.tasks.items() if name.split(".")[0] in OUR_PACKAGES}
    return list(tasks.values())


@pytest.fixture(scope="module")
def scraped(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, set[str]]]:
    """Each series name the two services give, with the values each of its labels takes."""
    folder = tmp_path_factory.mktemp("rules")
    settings = Settings(database_url=sqlite_url, redis_url=REDIS_URL, chroma_path=str(folder / "chroma"),
                        model_dir=str(folder / "models"), forecast_retrain_hour=None)  # fmt: skip
    redis.Redis.from_url(REDIS_URL).flushdb()
    series: dict[str, dict[str, set[str]]] = {}
    with TestClient(gateway_app(settings, sweeper=False)) as gateway, TestClient(forecast_app(settings)) as forecast:
        created = gateway.post("/api/tickets/create", json={"customer_email": "p@example.com", "subject": "Late",
                                                            "description": "Order 5521 has not arrived."})  # fmt: skip
        assert created.status_code == 201, created.text
        for task in _our_tasks():  # what a worker's runs send: begun, then ended in each state; discarded unrun
            for state in ("SUCCESS", "FAILURE", "RETRY"):
                task_id = str(uuid.uuid4())
                signals.task_prerun.send(sender=task, task_id=task_id, task=task)
                signals.task_postrun.send(sender=task, task_id=task_id, task=task, state=state)
            for expired in (False, True):
                signals.task_revoked.send(sender=task, request=None, terminated=False, signum=None, expired=expired)
        record_pass(settings, Swept([], []))
        for client in (gateway, forecast):
            response = client.get("/metrics")
            assert response.status_code == 200, response.text
            for name, by_labels in parse_samples(response.text).items():
                labels = series.setdefault(name, {})
                for pairs in by_labels:
                    for label, value in pairs:
                        labels.setdefault(label, set()).add(value)
    return series


def _selectors(expr: Any) -> list[Any]:
    found: list[Any] = []
    promql.walk(expr, lambda node: found.append(node) if isinstance(node, promql.VectorSelector) else None)
    return found


def _kept(expr: Any, series: dict[str, dict[str, set[str]]]) -> set[str]:
    """The labels the expression's result keeps (what `$labels` can name), for the node kinds the rules use."""
    if isinstance(expr, promql.VectorSelector):
        return set(series.get(expr.name, {}))
    if isinstance(expr, promql.MatrixSelector):
        return _kept(expr.vector_selector, series)
    if isinstance(expr, promql.ParenExpr):
        return _kept(expr.expr, series)
    if isinstance(expr, promql.AggregateExpr):
        if expr.modifier is None:
            return set()
        labels = set(expr.modifier.labels)
        return labels if expr.modifier.type == promql.AggModifierType.By else _kept(expr.expr, series) - labels
    if isinstance(expr, promql.Call):
        kept = set().union(*(_kept(arg, series) for arg in expr.args)) if expr.args else set()
        return kept - {"le"} if expr.func.name == "histogram_quantile" else kept
    if isinstance(expr, promql.BinaryExpr):  # a vector against a scalar, or one-to-one: the left side's labels
        left = _kept(expr.lhs, series)
        return left or _kept(expr.rhs, series)
    return set()  # numbers, strings


@pytest.mark.parametrize("rule", RULES, ids=[rule["alert"] for rule in RULES])
def test_each_rule_selects_what_a_scrape_gives(rule: dict[str, Any], scraped: dict[str, dict[str, set[str]]]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
    assert rule["labels"]["severity"] in ("critical", "warning")
    expr = promql.parse(rule["expr"])
    selectors = _selectors(expr)
    assert selectors, "a rule that reads no metric"
    for selector in selectors:
        assert selector.name in scraped, f"{rule['alert']}: no series {selector.name} in a scrape"
        labels = scraped[selector.name]
        for matcher in selector.matchers.matchers:
            assert matcher.name in labels, f"{rule['alert']}: {selector.name} has no label {matcher.name}"
            values = labels[matcher.name]
            if matcher.op == promql.MatchOp.Equal:
                assert matcher.value in values, f"{rule['alert']}: {matcher.name}={matcher.value!r} is not in {values}"
            elif matcher.op == promql.MatchOp.Re:
                wanted = re.fullmatch(r"[\w|]+", matcher.value)  # a list of values: each one must occur
                pattern = re.compile(matcher.value)
                assert any(pattern.fullmatch(value) for value in values) or not wanted, (rule["alert"], values)
                for each in matcher.value.split("|") if wanted else ():
                    assert each in values, f"{rule['alert']}: {matcher.name} {each!r} is not in {values}"
    kept = _kept(expr, scraped)
    for text in rule.get("annotations", {}).values():
        for label in re.findall(r"\$labels\.(\w+)", text):
            assert label in kept, f"{rule['alert']}: the annotation names {label}, which the result does not keep"


def test_the_readme_shows_the_files_as_shipped() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ("rules.yml", "prometheus.yml"):
        block = re.search(rf"```yaml\n# docker/prometheus/{name}\n(.*?)```", readme, re.S)
        assert block is not None, f"the README shows no docker/prometheus/{name}"
        assert block.group(1) == (FOLDER / name).read_text(), f"the README's {name} differs from the file"


def test_the_scrape_config_reads_the_rules_and_compose_s_services() -> None:
    config = yaml.safe_load((FOLDER / "prometheus.yml").read_text())
    assert [(FOLDER / name).is_file() for name in config["rule_files"]] == [True]
    (job,) = config["scrape_configs"]
    assert "authorization" in job  # the scrape needs a monitor key or METRICS_TOKEN
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    served = {}  # each of our HTTP services' host and port in compose
    for name in ("gateway", "forecast_service"):
        port = re.search(r"--port (\d+)", " ".join(services[name]["command"]))
        assert port is not None
        served[name] = port.group(1)
    targets = [target for group in job["static_configs"] for target in group["targets"]]
    assert sorted(targets) == sorted(f"{name}:{port}" for name, port in served.items())
