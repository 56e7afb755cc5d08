"""`bizportal demo`: the README's run command, from an empty database to a served catalogue."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import func, select

from bizportal.app import create_app
from bizportal.cli import cli
from bizportal.extensions import db
from bizportal.permits.models import PermitType

from .factories import SEED_KEYS, database_url

BIZPORTAL_COMMAND = Path(sys.executable).with_name("bizportal")


def test_demo_prepares_an_empty_database(tmp_path: Path) -> None:
    with database_url(tmp_path) as url:
        app = create_app({"BIZPORTAL_ENV": "testing", "DATABASE_URL": url,
                          "INSTANCE_PATH": tmp_path / "instance"})
        result = app.test_cli_runner().invoke(cli, args=["demo", "--no-serve"])
        assert result.exit_code == 0, result.output
        assert "database is up to date" in result.output
        for key in SEED_KEYS:
            assert f"created      {key} version" in result.output

        again = app.test_cli_runner().invoke(cli, args=["demo", "--no-serve"])
        assert again.exit_code == 0
        assert "created " not in again.output

        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(PermitType)) == len(SEED_KEYS)
            db.session.remove()
            db.engine.dispose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_demo_command_serves_the_catalogue(tmp_path: Path) -> None:
    port = _free_port()
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("BIZPORTAL_", "FLASK_"))}
    environment.update(DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
                       SECRET_KEY="demo-test-secret-key-0123456789abcdef")
    process = subprocess.Popen([str(BIZPORTAL_COMMAND), "demo", "--port", str(port)], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    body = response.read().decode("utf-8")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert '<html lang="th">' in body
        for key in SEED_KEYS:
            assert f'href="/permits/{key}"' in body
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "Traceback" not in output
    assert f"serving the portal on http://127.0.0.1:{port}/" in output
