"""Licence PDFs: a `LicenceDocument` rendered by WeasyPrint from `templates/licences/<template>`.

A worker builds one `LicenceRenderer` and reuses it: the stylesheet, the Sarabun
font faces (subset and embedded in each PDF) and the Jinja environment are made
once. Rendering is safe for applicant text: the templates autoescape every value,
values never go into URLs or styles, and the only resources WeasyPrint may load
are files inside the licence assets folder, through `LicenceAssetFetcher`. Any
other URL (http, https, file, data, a path escaping the folder) stops the
rendering with `LicenceRenderingError`, so nothing reaches the network or disk.
"""

from __future__ import annotations

import contextvars
import gc
import mimetypes
import os
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from ..config import BIZPORTAL_ROOT
from ..i18n import format_date
from .document import LicenceContentError, LicenceDocument
from .pdftext import font_glyph_texts, repair_text_layer
from .qr import qr_image

LICENCE_TEMPLATES = BIZPORTAL_ROOT / "templates" / "licences"
ASSET_SCHEME = "bizportal-asset:"
STYLESHEET = "licence.css"
PLACEHOLDER_EMBLEM = "emblems/placeholder.svg"
MAX_HTML_CHARS = 200_000
MAX_PAGES = 2
"""A licence is one page; conditions may run onto a second. More means something is wrong."""
MAX_ASSET_BYTES = 5 * 1024 * 1024

_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]+\.html$")
_AGENCY_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class LicenceRenderingError(Exception):
    """The licence could not be rendered: a refused or missing resource, or too many pages."""


class AssetRefused(ValueError):
    """WeasyPrint asked for something other than a file in the licence assets folder."""


class LicenceAssetFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint ships no type hints
    """WeasyPrint's URL fetcher, allowed to read only `bizportal-asset:<path>` inside `assets_dir`.

    It never opens a network connection or a file outside the folder, and a refusal
    is fatal (`fail_on_errors`), so a licence never silently misses its font or emblem.
    """

    def __init__(self, assets_dir: Path) -> None:
        super().__init__(allowed_protocols=(), allow_redirects=False, fail_on_errors=True)
        self.assets_dir = assets_dir.resolve()

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        """Serve `url` from the assets folder, or raise `AssetRefused`."""
        return URLFetcherResponse(url, self.read(url), {"Content-Type": _media_type(url)})

    def read(self, url: str) -> bytes:
        """The bytes of the asset `url` names; raises `AssetRefused` for anything else."""
        if not url.startswith(ASSET_SCHEME):
            raise AssetRefused(f"only {ASSET_SCHEME} URLs are loaded in a licence, not {url[:80]!r}")
        name = unquote(url[len(ASSET_SCHEME):].split("?", 1)[0].split("#", 1)[0]).lstrip("/")
        path = (self.assets_dir / name).resolve()
        if not name or not path.is_relative_to(self.assets_dir) or not path.is_file():
            raise AssetRefused(f"{url[:80]!r} is not a file in the licence assets folder")
        if path.stat().st_size > MAX_ASSET_BYTES:
            raise AssetRefused(f"{url[:80]!r} is larger than {MAX_ASSET_BYTES} bytes")
        return path.read_bytes()


def _media_type(url: str) -> str:
    known = {".ttf": "font/ttf", ".otf": "font/otf", ".svg": "image/svg+xml", ".css": "text/css"}
    suffix = Path(url).suffix.lower()
    return known.get(suffix) or mimetypes.guess_type(url)[0] or "application/octet-stream"


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic garbage collection inside the block; one collection after it.

    A render leaves about 9,000 objects in reference cycles (boxes, styles, PDF objects). Left to itself the
    collector ran ~19 young and ~2 middle collections per licence, each walking WeasyPrint's live boxes and
    styles again, and a full one every seven licences; in a worker those passes cost more than in a bare
    loop. Paused, the render's cycles wait in the youngest generation and one collection frees them when
    the render is done: a worker's render now costs what it costs in the plain loop, and its memory fell
    by 11 MB (docs/benchmarks.md). That collection is of the oldest generation due by the collector's own
    thresholds, so the older generations are still collected in turn (the automatic collector would not
    run again in a process that only renders). The collector is process-wide: a render in a web process
    (no Redis) pauses it for the other threads for that long too; it is turned back on only if it was on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:  # collected before the collector is back on, which would start a pass of its own at once
            counts, thresholds = gc.get_count(), gc.get_threshold()
            gc.collect(next((generation for generation in (2, 1) if counts[generation] >= thresholds[generation]), 0))
            gc.enable()


class Renders(Protocol):
    """What issuing a licence needs of a renderer: `LicenceRenderer`, or a `RenderThread` around one."""

    def render(self, document: LicenceDocument) -> bytes: ...


class LicenceRenderer:
    """Renders licences; build one per worker, since the fonts and stylesheet are loaded only here."""

    def __init__(self, templates_dir: Path = LICENCE_TEMPLATES) -> None:
        self.templates_dir = templates_dir.resolve()
        self.assets_dir = self.templates_dir / "assets"
        self.fetcher = LicenceAssetFetcher(self.assets_dir)
        self.font_config = FontConfiguration()
        try:
            self.stylesheet = CSS(url=ASSET_SCHEME + STYLESHEET, url_fetcher=self.fetcher,
                                  font_config=self.font_config)
        except FatalURLFetchingError as error:
            raise LicenceRenderingError(f"the licence stylesheet or fonts cannot be loaded: {error}") from None
        self.glyph_texts = dict(font_glyph_texts(path) for path in sorted((self.assets_dir / "fonts").glob("*.ttf")))
        self.jinja = Environment(loader=FileSystemLoader(str(self.templates_dir)),
                                 autoescape=select_autoescape(default=True, default_for_string=True),
                                 undefined=StrictUndefined, auto_reload=False)

    def close(self) -> None:
        """Remove the folder where WeasyPrint copied the licence fonts. Call it when done with the renderer.

        WeasyPrint removes that folder when its `FontConfiguration` is collected, which does not happen
        for a renderer hidden from the collector (`gc.freeze()` in the worker) and fails at interpreter
        exit: each stopped worker left a folder of fonts in the temporary directory.
        """
        folder = getattr(self.font_config, "_folder", None)  # WeasyPrint's own temporary font folder
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
            self.font_config._folder = None

    def html(self, document: LicenceDocument) -> str:
        """The HTML of the licence, for tests and for a preview page."""
        if not _TEMPLATE_NAME.match(document.template):
            raise LicenceContentError(f"{document.template!r} is not a licence template name")
        html = self.jinja.get_template(document.template).render(self._context(document))
        if len(html) > MAX_HTML_CHARS:
            raise LicenceContentError(f"the licence's HTML has {len(html)} characters; at most {MAX_HTML_CHARS}")
        return html

    def render(self, document: LicenceDocument) -> bytes:
        """The licence as PDF bytes (A4, fonts subset and embedded, text layer repaired for Thai).

        Raises `LicenceRenderingError` when a resource is refused or the licence
        would take more than `MAX_PAGES` pages.
        """
        with collector_paused():
            return self._render(document)

    def _render(self, document: LicenceDocument) -> bytes:
        html = self.html(document)
        try:
            rendered = HTML(string=html, base_url=ASSET_SCHEME, url_fetcher=self.fetcher).render(
                stylesheets=[self.stylesheet], font_config=self.font_config)
        except FatalURLFetchingError as error:
            cause = error.__cause__ or error
            raise LicenceRenderingError(f"licence {document.number}: {cause}") from None
        if len(rendered.pages) > MAX_PAGES:
            raise LicenceRenderingError(f"licence {document.number} takes {len(rendered.pages)} pages; "
                                        f"at most {MAX_PAGES}")
        pdf: bytes = rendered.write_pdf()
        return repair_text_layer(pdf, self.glyph_texts)

    def emblem_url(self, agency_id: str) -> str:
        """The agency's own emblem (`assets/emblems/<agency id>.svg` or `.png`) or the neutral placeholder."""
        if _AGENCY_ID.match(agency_id):
            for suffix in (".svg", ".png"):
                if (self.assets_dir / "emblems" / f"{agency_id}{suffix}").is_file():
                    return f"{ASSET_SCHEME}emblems/{agency_id}{suffix}"
        return ASSET_SCHEME + PLACEHOLDER_EMBLEM

    def _context(self, document: LicenceDocument) -> dict[str, Any]:
        def both(day: Any) -> dict[str, str] | None:
            return {"th": format_date(day, "th"), "en": format_date(day, "en")} if day is not None else None

        qr = qr_image(document.qr_text)
        return {
            "licence": document,
            "dates": {"issued": both(document.issued_on), "valid_from": both(document.valid_from),
                      "valid_until": both(document.valid_until)},
            "emblem_url": self.emblem_url(document.agency_id),
            "qr_svg": Markup(qr.svg),  # noqa: S704  # made by segno from our own URL
            "qr_size_mm": qr.size_mm,
        }


class RenderThread:
    """Runs a `LicenceRenderer`'s renders on one long-lived thread of their own, where the Python call stack
    starts empty, whatever the depth of the caller.

    Why: CPython keeps a thread's frames in 16 KiB chunks and, in 3.11 and 3.12, frees a chunk (munmap)
    as soon as the call at its start returns (CPython gh-142183; fixed in 2026 releases of 3.13 and 3.14
    only, by keeping one chunk). WeasyPrint's layout recurses down and up by dozens of frames thousands of
    times per licence. Called from deep inside a worker (click, RQ, the job and its transaction), a chunk
    boundary fell in that back-and-forth: each licence paid about 1,900 mmap/munmap pairs and their page
    faults, against about 480 from a shallow stack, some 10 ms of CPU per licence (docs/benchmarks.md).
    The thread is made on first use in each process, so a forked work horse gets its own; context
    variables (the request id in log lines) go with each call.
    """

    def __init__(self, renderer: LicenceRenderer) -> None:
        self.renderer = renderer
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0

    def render(self, document: LicenceDocument) -> bytes:
        """`LicenceRenderer.render` on the render thread; its exceptions are raised here."""
        if self._executor is None or self._pid != os.getpid():
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="licence-render")
            self._pid = os.getpid()
        call = contextvars.copy_context().run
        pdf: bytes = self._executor.submit(call, self.renderer.render, document).result()
        return pdf

    def close(self) -> None:
        """Let the thread finish its render and end, and close the renderer."""
        if self._executor is not None and self._pid == os.getpid():
            self._executor.shutdown(wait=True)
        self._executor = None
        self.renderer.close()
