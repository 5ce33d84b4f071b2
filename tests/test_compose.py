"""compose.yaml cannot be run here (no Docker engine), so its structure is checked instead."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = {"gateway", "classifier_worker", "rag_worker", "alert_worker", "forecast_service"}
SETTINGS_ENV = {name.upper() for name in Settings.model_fields}
EXTERNAL_ENV = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "AUTH_DISABLED", "PROMETHEUS_MULTIPROC_DIR"}


def test_every_service_of_the_design_is_there():
    assert {"redis", "postgres", "chroma", *APP_SERVICES} <= set(SERVICES)


def test_builds_point_at_existing_contexts_and_dockerfiles():
    for name, service in SERVICES.items():
        if "build" not in service:
            assert "image" in service, name
            continue
        context = ROOT / service["build"]["context"]
        assert context.is_dir(), name
        assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file(), name
        extras = service["build"].get("args", {}).get("EXTRAS")
        pyproject = (ROOT / "pyproject.toml").read_text()
        assert extras and re.search(rf"^{extras} = \[", pyproject, re.M), f"{name}: unknown extras {extras}"


def test_healthchecks_and_healthy_dependencies():
    for name in ("redis", "postgres", "chroma", *APP_SERVICES):
        assert "healthcheck" in SERVICES[name], name
    for name in APP_SERVICES:
        for dep, condition in SERVICES[name]["depends_on"].items():
            assert dep in SERVICES, (name, dep)
            assert condition["condition"] in {"service_healthy", "service_completed_successfully"}
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dep], (name, dep)


def test_workers_can_scale():
    for name in ("classifier_worker", "rag_worker", "alert_worker"):
        service = SERVICES[name]
        assert "container_name" not in service and "ports" not in service, name


def test_every_environment_variable_is_a_setting():
    for name, service in SERVICES.items():
        for key in service.get("environment", {}):
            assert key in SETTINGS_ENV or key in EXTERNAL_ENV, f"{name}: {key} is not read by shared.config"


def test_commands_name_modules_that_exist():
    for name in APP_SERVICES | {"models"}:
        command = " ".join(SERVICES[name]["command"])
        for module in re.findall(r"(?:-A |-m |^uvicorn |\s)([a-z_]+(?:\.[a-z_]+)+)", command):
            module = module.split(":")[0]
            assert (ROOT / (module.replace(".", "/") + ".py")).exists(), f"{name}: {module}"


def test_volumes_are_declared():
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in declared, f"{name}: {source}"


def test_the_gateways_processes_share_their_request_counts():
    """Several uvicorn workers: prometheus_client's multiprocess folder, emptied before they start."""
    gateway = SERVICES["gateway"]
    folder = gateway["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    command = " ".join(gateway["command"])
    assert "--workers" in command and folder.startswith("/")
    wiped = command.index('rm -rf "$$PROMETHEUS_MULTIPROC_DIR"')
    assert wiped < command.index('mkdir -p "$$PROMETHEUS_MULTIPROC_DIR"') < command.index("exec uvicorn")
