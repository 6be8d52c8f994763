"""docker/compose.yaml matches what the plugin reads. No container engine runs here, so this reads
the files the containers would get and checks them with the plugin's own code."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from luthien_litellm_plugin.cli.check_config import check_config
from luthien_litellm_plugin.storage.settings import StorageSettings
from tests.docker.compose_file import DOCKER, MissingVariable, load_compose

REPO = DOCKER.parent
ENVIRONMENT = {"LITELLM_MASTER_KEY": "sk-compose-check-0123456789", "POSTGRES_PASSWORD": "pw-from-env"}
PLUGIN_VARIABLES = ("LUTHIEN_DATABASE_URL", "LUTHIEN_REDIS_URL", "LUTHIEN_SPOOL_DIR", "LUTHIEN_EVENTS_FILE")
PROXIES = ("proxy-1", "proxy-2")


def services() -> dict[str, dict[str, object]]:
    found = load_compose(ENVIRONMENT)["services"]
    assert isinstance(found, dict)
    return found


def environment_of(name: str) -> dict[str, str]:
    env = services()[name]["environment"]
    assert isinstance(env, dict)
    return {str(key): str(value) for key, value in env.items()}


def mounts(name: str) -> dict[str, str]:
    """Container path → source, for the service's volumes."""
    found = {}
    for volume in services()[name].get("volumes", []):  # type: ignore[union-attr]
        source, target, *_ = str(volume).split(":")
        found[target] = source
    return found


def test_the_stack_has_two_replicas_a_balancer_postgres_redis_and_a_collector() -> None:
    assert set(services()) == {*PROXIES, "lb", "postgres", "redis", "otel-collector"}
    for name in PROXIES:
        build = services()[name]["build"]
        assert build == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert (DOCKER / ".." / "docker" / "Dockerfile").is_file()


def test_the_master_key_is_required_and_shared() -> None:
    with pytest.raises(MissingVariable, match="LITELLM_MASTER_KEY"):
        load_compose({})
    keys = {environment_of(name)["LITELLM_MASTER_KEY"] for name in PROXIES}
    assert keys == {ENVIRONMENT["LITELLM_MASTER_KEY"]}  # sessions signed by one replica open the other


def test_recording_settings_are_ones_the_plugin_reads_and_point_at_the_services() -> None:
    source = "\n".join(path.read_text() for path in (REPO / "luthien_litellm_plugin").rglob("*.py"))
    postgres = environment_of("postgres")
    for name in PROXIES:
        env = environment_of(name)
        assert "DATABASE_URL" not in env  # LiteLLM's own Prisma database: not used (see LITELLM_NOTES)
        unknown = [key for key in env if key.startswith("LUTHIEN_") and key not in PLUGIN_VARIABLES]
        assert unknown == []
        assert all(key in source for key in env if key.startswith("LUTHIEN_"))
        settings = StorageSettings.from_env(env)
        assert settings.is_postgres
        database = urlsplit(settings.database_url or "")
        assert (database.hostname, database.port or 5432) == ("postgres", 5432)
        assert (database.username, database.password, database.path.lstrip("/")) == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
            postgres["POSTGRES_DB"],
        )
        assert database.password == ENVIRONMENT["POSTGRES_PASSWORD"]
        assert urlsplit(settings.redis_url or "").hostname == "redis"
        assert mounts(name)[settings.spool_dir] == "spool"  # on a volume: spooled events survive a restart
    assert {environment_of(name)["LUTHIEN_DATABASE_URL"] for name in PROXIES} == {
        environment_of(PROXIES[0])["LUTHIEN_DATABASE_URL"]
    }
    assert set(load_compose(ENVIRONMENT)["volumes"]) == {"pgdata", "redisdata", "spool"}  # type: ignore[arg-type]


def test_the_mounted_config_passes_the_plugins_own_check_with_the_containers_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in PROXIES:
        command = [str(part) for part in services()[name]["command"]]  # type: ignore[union-attr]
        config_in_container = command[command.index("--config") + 1]
        config = DOCKER / mounts(name)[config_in_container]
        assert config.is_file()
        for key, value in environment_of(name).items():
            monkeypatch.setenv(key, value)
        checked = check_config(config)
        assert checked.storage.is_postgres and checked.storage.redis_url == "redis://redis:6379/0"
        assert checked.storage.spool_dir == "/var/lib/luthien/spool"
        assert checked.warnings == []
        assert "otel" in yaml.safe_load(config.read_text())["litellm_settings"]["callbacks"]
        assert command[command.index("--port") + 1] == "4000" and command[command.index("--host") + 1] == "0.0.0.0"


def test_telemetry_goes_to_the_collector_on_a_port_it_listens_on() -> None:
    collector = yaml.safe_load((DOCKER / "otel-collector.yaml").read_text())
    http = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert mounts("otel-collector")["/etc/otelcol/config.yaml"] == "./otel-collector.yaml"
    for name in PROXIES:
        env = environment_of(name)
        endpoint = urlsplit(env["OTEL_ENDPOINT"])
        assert env["OTEL_EXPORTER"] == "otlp_http"
        assert (endpoint.hostname, str(endpoint.port)) == ("otel-collector", http.rsplit(":", 1)[1])
    pipelines = collector["service"]["pipelines"]
    assert pipelines["traces"]["receivers"] == ["otlp"] and pipelines["metrics"]["receivers"] == ["otlp"]


def test_the_balancer_spreads_requests_over_both_replicas() -> None:
    nginx = (DOCKER / "nginx.conf").read_text()
    upstream = re.search(r"upstream litellm \{(.*?)\}", nginx, re.S)
    assert upstream is not None
    assert set(re.findall(r"server ([\w-]+:\d+);", upstream.group(1))) == {f"{name}:4000" for name in PROXIES}
    assert "proxy_buffering off" in nginx  # streams pass as they come
    assert "proxy_set_header Host $http_host" in nginx  # the viewer's same-origin check sees the browser's host
    assert mounts("lb")["/etc/nginx/nginx.conf"] == "./nginx.conf"
    assert services()["lb"]["ports"] == ["4000:4000"]


def test_the_dockerfile_builds_on_the_litellm_version_ci_tests() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    pinned = re.search(r"^litellm==([\d.]+)$", (REPO / "constraints.txt").read_text(), re.M)
    image = re.search(r"^ARG LITELLM_IMAGE=ghcr\.io/berriai/litellm:main-v([\d.]+)$", dockerfile, re.M)
    assert pinned is not None and image is not None and image.group(1) == pinned.group(1)
    assert "RUN sh /opt/luthien/install-plugin.sh /opt/luthien/src" in dockerfile
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.M):
        *sources, _ = line.split()
        assert all((REPO / source).exists() for source in sources), line
    assert Path(DOCKER / "install-plugin.sh").stat().st_mode & 0o111
