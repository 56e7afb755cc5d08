"""Uploaded files: checked by content, stored outside the web root under their SHA-256.

A file is read in chunks into a temporary file in the uploads folder while its
hash and size are computed; it is refused when it is empty, larger than the
checklist item's `max_size_mb`, or not, by its first bytes, one of the kinds the
item accepts (PDF `%PDF-`, JPEG `FF D8 FF`, PNG `89 50 4E 47`). The name and
type the browser sent are never trusted: the stored content type comes from the
content. Files live at `<uploads>/<sha256[:2]>/<sha256>`, so the same file
uploaded twice is stored once, and a name never reaches the file system.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from flask_babel import lazy_gettext as _l

from ..workflow.spec import Document, FileKind
from .answers import Message

CHUNK_SIZE = 64 * 1024
MAX_FILENAME = 200
CONTENT_TYPES = {FileKind.PDF: "application/pdf", FileKind.JPEG: "image/jpeg", FileKind.PNG: "image/png"}
EXTENSIONS = {FileKind.PDF: ".pdf", FileKind.JPEG: ".jpg", FileKind.PNG: ".png"}
KIND_NAMES = {FileKind.PDF: "PDF", FileKind.JPEG: "JPEG", FileKind.PNG: "PNG"}
_SIGNATURES = ((b"%PDF-", FileKind.PDF), (b"\xff\xd8\xff", FileKind.JPEG), (b"\x89PNG\r\n\x1a\n", FileKind.PNG))
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


class Upload(Protocol):
    """A posted file (Werkzeug's `FileStorage` fits)."""

    filename: str | None
    stream: IO[bytes]


@dataclass(frozen=True)
class StoredFile:
    """A checked file now in the uploads folder."""

    filename: str
    content_type: str
    size: int
    sha256: str
    storage_path: str


def sniff(head: bytes) -> FileKind | None:
    """The kind of file whose first bytes are `head`, or None."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return None


def has_file(upload: Upload | None) -> bool:
    """True when the applicant chose a file (an empty file input posts no name)."""
    return upload is not None and bool(upload.filename)


def safe_filename(name: str | None, kind: FileKind) -> str:
    """The name shown to people and in downloads: no path, no control characters, not too long."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = _UNSAFE.sub("_", base).strip(" ._")
    if not base:
        base = "document" + EXTENSIONS[kind]
    if len(base) > MAX_FILENAME:
        stem, dot, extension = base.rpartition(".")
        base = (stem[:MAX_FILENAME - len(extension) - 1] + dot + extension) if dot and len(extension) <= 8 \
            else base[:MAX_FILENAME]
    return base


def accepted_kinds(document: Document) -> str:
    """The accepted kinds, for messages and help: "PDF, JPEG or PNG"."""
    return ", ".join(KIND_NAMES[kind] for kind in document.accept)


def max_bytes(document: Document) -> int:
    """The largest file the checklist item accepts, in bytes."""
    return int(document.max_size_mb * 1024 * 1024)


def store(upload: Upload, document: Document, root: Path) -> StoredFile | Message:
    """Check `upload` against the checklist item and store it; a message when it is refused."""
    limit = max_bytes(document)
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    descriptor, temporary = tempfile.mkstemp(prefix="upload-", dir=root)
    try:
        with os.fdopen(descriptor, "wb") as output:
            while True:
                chunk = upload.stream.read(CHUNK_SIZE)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    return _l("The file is larger than %(limit)s MB. Make it smaller (e.g. scan at a lower "
                              "resolution) and upload it again.", limit=_megabytes(document.max_size_mb))
                if len(head) < 16:
                    head += chunk[:16 - len(head)]
                digest.update(chunk)
                output.write(chunk)
        if size == 0:
            return _l("The file is empty. Choose the file again.")
        kind = sniff(head)
        if kind is None or kind not in document.accept:
            return _l("This file is not a %(kinds)s file. Upload the document as %(kinds)s.",
                      kinds=accepted_kinds(document))
        sha256 = digest.hexdigest()
        relative = f"{sha256[:2]}/{sha256}"
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.unlink(temporary)
        else:
            os.replace(temporary, target)
        return StoredFile(safe_filename(upload.filename, kind), CONTENT_TYPES[kind], size, sha256, relative)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _megabytes(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def stored_path(root: Path, storage_path: str) -> Path:
    """The file for a stored relative path; refuses anything that is not `<xx>/<sha256>`."""
    if not re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{64}", storage_path):
        raise ValueError(f"not a storage path: {storage_path!r}")
    return root / storage_path
