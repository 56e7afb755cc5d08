"""Real Redis and real `bizportal worker` processes for the job tests.

Each test session takes a Redis database index of its own (1-15 on 127.0.0.1:6379, claimed with a key that
expires) and empties it before and after, so parallel runs and other projects' queues never meet. Workers
are started as processes with the test app's database URL and instance folder in their environment, through
the `worker` command itself: `bizportal worker` when the instance folder is the default one, otherwise this
module run as `python -m tests.workers <instance folder> worker ...`, which builds the same app with that
folder (where licence PDFs and the signing key live) and runs the same command.

Run as a script only by `start_worker`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from bizportal.config import BIZPORTAL_ROOT

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
CLAIM_KEY = "bizportal-tests:claimed-by"
BIZPORTAL_SCRIPT = Path(sys.executable).with_name("bizportal")


def redis_answers(host: str = REDIS_HOST, port: int = REDIS_PORT) -> bool:
    """True when a Redis server answers PING there."""
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        return bool(Redis(host=host, port=port, socket_connect_timeout=1).ping())
    except RedisError:
        return False


def require_redis() -> None:
    """Skip the test without a Redis on 127.0.0.1:6379, or fail under CI (`CI` set), where it must run."""
    if redis_answers():
        return
    message = ("Redis does not answer on 127.0.0.1:6379; start it with `redis-server --daemonize yes --bind "
               "127.0.0.1 --port 6379 --save '' --appendonly no`")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def redis_database() -> Iterator[str]:
    """The URL of an empty Redis database index nobody else is using, emptied again afterwards."""
    from redis import Redis

    owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    for index in range(1, 16):
        client = Redis(host=REDIS_HOST, port=REDIS_PORT, db=index)
        if client.set(CLAIM_KEY, owner, nx=True, ex=3600):
            break
    else:
        pytest.fail("every Redis database 1-15 is claimed by another test run")
    for key in client.scan_iter(count=1000):
        if key != CLAIM_KEY.encode():
            client.delete(key)
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{index}"
    finally:
        client.flushdb()
        client.close()


@dataclass
class WorkerProcess:
    """A running worker: its process (its own process group) and its log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    stopped: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and everything it forked (work horse, scheduler), as a crash of the machine would.

        RQ's work horse puts itself in a process group of its own, so it is found through /proc.
        """
        for pid in [*descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.stopped = True

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM (RQ's warm shutdown: the current job is finished first); returns the exit status."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.stopped = True

    def wait(self, timeout: float = 60) -> int:
        """Wait for a `--burst` worker to finish; fails the test, showing its log, if it does not."""
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"worker did not finish in {timeout} s:\n{self.log()[-3000:]}")
        self.stopped = True
        return status

    def stop(self) -> None:
        if self.stopped or self.process.poll() is not None:
            self.stopped = True
            return
        try:
            self.terminate(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


def descendants(pid: int) -> list[int]:
    """The ids of every process below `pid` (children first), read from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        children = parents.get(pending.pop(), [])
        found.extend(children)
        pending.extend(children)
    return found


def worker_environment(app: Flask, redis_url: str) -> dict[str, str]:
    """The environment that makes a worker process use `app`'s database and `redis_url`."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("DATABASE_URL", "REDIS_URL", "FLASK_APP", "LICENCE_SIGNING_KEY")}
    environment.update({
        "BIZPORTAL_ENV": "testing",
        "DATABASE_URL": str(app.config["SQLALCHEMY_DATABASE_URI"]),
        "REDIS_URL": redis_url,
        "SECRET_KEY": str(app.config["SECRET_KEY"]),
        "BIZPORTAL_WORKFLOWS_DIR": str(app.config["BIZPORTAL_WORKFLOWS_DIR"]),
        "BIZPORTAL_FORMS_DIR": str(app.config["BIZPORTAL_FORMS_DIR"]),
        "PYTHONUNBUFFERED": "1",
    })
    if app.config.get("LICENCE_SIGNING_KEY"):
        environment["LICENCE_SIGNING_KEY"] = str(app.config["LICENCE_SIGNING_KEY"])
    if app.config.get("PUBLIC_BASE_URL"):
        environment["PUBLIC_BASE_URL"] = str(app.config["PUBLIC_BASE_URL"])
    return environment


def start_worker(app: Flask, redis_url: str, *arguments: str, log_dir: Path) -> WorkerProcess:
    """Start a worker on `app`'s database and instance folder; `arguments` go to `worker` (e.g. `--burst`)."""
    log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
    if Path(app.instance_path).resolve() == (BIZPORTAL_ROOT / "instance").resolve():
        command = [str(BIZPORTAL_SCRIPT), "worker", *arguments]
    else:
        command = [sys.executable, "-m", "tests.workers", app.instance_path, "worker", *arguments]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=BIZPORTAL_ROOT, env=worker_environment(app, redis_url),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return WorkerProcess(process, log_path)


def wait_for(condition: Callable[[], Any], timeout: float = 30, interval: float = 0.05,
             message: str | Callable[[], str] = "condition") -> Any:
    """Poll `condition` until it returns something true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {message() if callable(message) else message}")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((REDIS_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class OwnRedis:
    """A redis-server of the test's own, on a free port, that the test stops and starts again."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{REDIS_HOST}:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen([executable, "--bind", REDIS_HOST, "--port", str(self.port), "--save", "",
                                         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: redis_answers(REDIS_HOST, self.port), timeout=10, message=f"redis-server on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # like a crash: whatever it held is gone
            self.process.wait(timeout=10)
        self.process = None


@contextmanager
def own_redis() -> Iterator[OwnRedis]:
    """A dedicated redis-server (started), stopped at the end whatever happens."""
    server = OwnRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _main(argv: list[str]) -> None:
    """`python -m tests.workers <instance folder> worker ...`: the `worker` command on an app with that folder."""
    from flask.cli import FlaskGroup

    from bizportal.app import create_app

    instance_path = argv[0]
    group = FlaskGroup(name="bizportal", create_app=lambda: create_app({"INSTANCE_PATH": instance_path}),
                       add_default_commands=False, load_dotenv=False)
    group.main(argv[1:], prog_name="bizportal")


if __name__ == "__main__":
    _main(sys.argv[1:])
