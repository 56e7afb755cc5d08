"""The `licences.render` job: render the licence PDF, store it and mark the licence issued.

A worker builds one `LicenceRenderer` (stylesheet, fonts, templates) at start
through `@preload`, and every job reuses it, on a thread of its own (`RenderThread`:
a render called from deep in a worker's stack cost ~10 ms more per licence). In-process
runs (no `REDIS_URL`) may come from several request threads at once, so rendering is
serialised by a lock.
"""

from __future__ import annotations

import atexit
import datetime as dt
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy.orm import Session

from ..businesses import addresses
from ..jobs.registry import handler, preload
from .cli import configured_signing_key
from .services import RENDER_JOB, render_and_issue

if TYPE_CHECKING:  # imported on first use: a web process that never renders never loads WeasyPrint
    from .rendering import RenderThread

_renderer: RenderThread | None = None
_lock = threading.RLock()


def renderer() -> RenderThread:
    """The process's renderer, built on first use."""
    global _renderer
    with _lock:
        if _renderer is None:
            from .rendering import LicenceRenderer, RenderThread

            _renderer = RenderThread(LicenceRenderer())
        return _renderer


@atexit.register
def release_renderer() -> None:
    """Close the process's renderer (its font folder is removed) while the interpreter still works: at exit,
    or when a worker stops."""
    global _renderer
    with _lock:
        if _renderer is not None:
            _renderer.close()
            _renderer = None


@preload
def build_renderer() -> None:
    """Build the renderer once when a worker starts, not on its first job, and load the address lists that
    licences print."""
    renderer()
    addresses.load_lists()


def licences_folder(instance_path: str | Path) -> Path:
    """Where licence PDFs are stored: `<instance>/licences/<year>/...`."""
    return Path(instance_path) / "licences"


@handler(RENDER_JOB, queue="licences")
def render(session: Session, payload: dict[str, Any]) -> None:
    """Render and issue licence `payload["licence_id"]`; a licence already issued is left as it is."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app behind the proxy
    with _lock:
        render_and_issue(session, int(payload["licence_id"]), renderer=renderer(),
                         signing_key=configured_signing_key(app),
                         verify_base_url=str(app.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000"),
                         files_root=licences_folder(app.instance_path), now=dt.datetime.now(dt.UTC))
