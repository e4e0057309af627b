"""docker-compose.yml and deploy/Caddyfile keep their promises (no Docker engine runs the tests,
so these are read, not started): two app replicas sharing one PostgreSQL and Redis for their
live events, migrated once before either starts, checked on /health/ready, JSON logs, behind a
proxy that publishes a port and routes to both; each service that can be checked is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from app.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def command_of(service: dict[str, Any]) -> list[str]:
    # Tandem's image (built from the Dockerfile) serves unless told otherwise; another
    # image's own command is not Tandem's.
    command = service.get("command", ["tandem", "serve"] if "build" in service else [])
    return command.split() if isinstance(command, str) else list(command)


def replicas() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in services().items()
        if command_of(service)[:2] == ["tandem", "serve"]
    }


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def healthcheck_of(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_two_replicas_share_the_database_and_redis_and_log_json() -> None:
    found = replicas()
    assert len(found) == 2, sorted(found)
    every = services()
    environments = [environment_of(service) for service in found.values()]
    for environment in environments:
        assert environment["TANDEM_BROADCAST_URL"] == "redis://redis:6379/0"
        assert "@postgres:5432/" in environment["TANDEM_DATABASE_URL"]
        assert environment["TANDEM_LOG_FORMAT"] == "json"
        assert environment["TANDEM_HOST"] == "0.0.0.0"
        # What compose hands the replica is a valid configuration (the secret as given).
        given = {**environment, "TANDEM_SECRET_KEY": "k" * 48}
        settings = load_settings(given)
        assert settings.broadcast_url.startswith("redis://redis:")
        assert settings.log_format == "json"
    for shared in ("TANDEM_DATABASE_URL", "TANDEM_BROADCAST_URL", "TANDEM_SECRET_KEY"):
        assert len({environment[shared] for environment in environments}) == 1, shared
    assert {"postgres", "redis"} <= every.keys()
    for service in found.values():
        waits_for = service["depends_on"]
        assert waits_for["postgres"]["condition"] == "service_healthy"
        assert waits_for["redis"]["condition"] == "service_healthy"
        assert "ports" not in service  # reached through the proxy only


def test_migrations_run_once_before_either_replica() -> None:
    every = services()
    [migrate] = [name for name, service in every.items() if command_of(service)[1:] == ["migrate"]]
    for name, service in replicas().items():
        # Neither replica migrates by itself: two at once would race.
        assert "--no-migrate" in command_of(service), name
        assert service["depends_on"][migrate]["condition"] == "service_completed_successfully"
    assert every[migrate].get("restart", "no") == "no"
    assert (
        environment_of(every[migrate])["TANDEM_DATABASE_URL"]
        == (environment_of(next(iter(replicas().values())))["TANDEM_DATABASE_URL"])
    )


def test_every_long_running_service_is_health_checked() -> None:
    every = services()
    for name, service in replicas().items():
        assert "/health/ready" in healthcheck_of(service), name
    assert "pg_isready" in healthcheck_of(every["postgres"])
    assert "redis-cli ping" in healthcheck_of(every["redis"])


def test_the_proxy_publishes_a_port_and_routes_to_both_replicas() -> None:
    every = services()
    [proxy] = [service for service in every.values() if "caddy" in service.get("image", "")]
    assert proxy["ports"], "the proxy publishes no port"
    [mount] = [volume for volume in proxy["volumes"] if volume.endswith(":/etc/caddy/Caddyfile:ro")]
    config = (ROOT / mount.split(":")[0]).read_text()
    [upstreams] = re.findall(r"^\s*reverse_proxy\s+([^{\n]+)\{", config, re.MULTILINE)
    ports = {environment_of(service)["TANDEM_PORT"] for service in replicas().values()}
    assert set(upstreams.split()) == {f"{name}:{port}" for name in replicas() for port in ports}
    assert re.search(r"^\s*health_uri\s+/health/ready$", config, re.MULTILINE)
    for name in replicas():
        assert proxy["depends_on"][name]["condition"] == "service_healthy"
