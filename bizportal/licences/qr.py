"""The licence's QR code: a link to `/verify/<number>` carrying the signed payload, drawn and read back.

The QR text is `<base>/verify/<number>?t=<compact JWS>`: a phone opens the public
verification page, and an offline checker takes the token after `t=` and checks it
against the agency's public key. The number in the path must be the token's
number, so a valid token cannot be pasted under another licence's address.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, unquote, urlsplit

import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .signing import LicenceClaims, LicenceSignatureError, verify_token

if TYPE_CHECKING:
    from PIL.Image import Image

TOKEN_PARAMETER = "t"
ERROR_CORRECTION = "m"
"""Medium (15 %) error correction: survives a fold or a smudge yet keeps the code small."""
MAX_QR_TEXT = 1_200
"""Longest QR text made: beyond it the code gets too dense to scan from a printed A4 page."""
PDF_SCAN_DPI = 200
PDF_SCAN_PAGES = 4
QUIET_ZONE = 4
MIN_MODULE_MM = 0.33
"""Smallest printed module: a phone camera or a 150 dpi scan still tells the modules apart."""
MIN_SIZE_MM = 30.0


class QrCodeError(ValueError):
    """No QR code could be made or found; the message says why."""


def verification_url(base_url: str, number: str, token: str) -> str:
    """The QR text: the public verification page of `number`, with the signed token in `t`."""
    text = f"{base_url.rstrip('/')}/verify/{quote(number, safe='')}?{TOKEN_PARAMETER}={token}"
    if len(text) > MAX_QR_TEXT:
        raise QrCodeError(f"the QR text has {len(text)} characters, more than {MAX_QR_TEXT}")
    return text


@dataclass(frozen=True)
class QrImage:
    """A QR code ready for the template: inline SVG markup and the printed width that keeps it readable."""

    svg: str
    size_mm: float


def qr_image(text: str) -> QrImage:
    """`text` as a QR code: an inline `<svg>` (no width or height: CSS sizes it) and its printed size.

    Vector modules stay sharp at any print resolution. The size grows with the
    code's version so that a module is never smaller than `MIN_MODULE_MM`. The markup
    is made by segno from our own URL, so the template may insert it unescaped.
    """
    code = segno.make(text, error=ERROR_CORRECTION, micro=False)
    svg: str = code.svg_inline(scale=1, border=QUIET_ZONE, dark="#000000", light="#ffffff", omitsize=True)
    modules = code.symbol_size(scale=1, border=QUIET_ZONE)[0]
    return QrImage(svg=svg, size_mm=round(max(MIN_SIZE_MM, modules * MIN_MODULE_MM), 1))


def claims_from_text(text: str, public_keys: Iterable[Ed25519PublicKey]) -> LicenceClaims:
    """Verify the text a QR code holds: a verification URL, or the bare token.

    Raises `LicenceSignatureError` when the token does not verify, or when the URL's
    number differs from the signed one.
    """
    text = text.strip()
    number_in_url: str | None = None
    token = text
    if "://" in text or text.startswith("/"):
        parts = urlsplit(text)
        tokens = parse_qs(parts.query).get(TOKEN_PARAMETER, [])
        if len(tokens) != 1:
            raise LicenceSignatureError(f"the URL has no single `{TOKEN_PARAMETER}=` payload")
        token = tokens[0]
        segments = parts.path.rstrip("/").split("/")
        if len(segments) >= 2 and segments[-2] == "verify":
            number_in_url = unquote(segments[-1])
    claims = verify_token(token, public_keys)
    if number_in_url is not None and number_in_url != claims.number:
        raise LicenceSignatureError(f"the URL names licence {number_in_url!r} but the signed payload is for "
                                    f"{claims.number!r}")
    return claims


def decode_qr_codes(path: Path) -> list[str]:
    """The texts of the QR codes in an image (PNG, JPEG, ...) or on the first pages of a PDF.

    PDF pages are rendered at 200 dpi with PDFium, so a scanned licence works as
    well as one this portal produced.
    """
    import zxingcpp  # imported here: only the command line reads QR codes
    from PIL import Image, UnidentifiedImageError

    try:
        head = path.read_bytes()[:5]
    except OSError as error:
        raise QrCodeError(f"{path}: cannot be read ({error})") from None
    if head == b"%PDF-":
        images = _pdf_pages(path)
    else:
        try:
            with Image.open(path) as opened:
                images = [opened.convert("RGB")]
        except (UnidentifiedImageError, OSError) as error:
            raise QrCodeError(f"{path}: neither a PDF nor an image ({error})") from None
    return [result.text for image in images for result in zxingcpp.read_barcodes(image)
            if result.valid and result.format == zxingcpp.BarcodeFormat.QRCode]


def _pdf_pages(path: Path) -> list[Image]:
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(path)
    except pypdfium2.PdfiumError as error:
        raise QrCodeError(f"{path}: not a readable PDF ({error})") from None
    try:
        if len(pdf) == 0:
            raise QrCodeError(f"{path}: the PDF has no page")
        images: list[Image] = [pdf[index].render(scale=PDF_SCAN_DPI / 72).to_pil().convert("RGB")
                               for index in range(min(len(pdf), PDF_SCAN_PAGES))]
        return images
    finally:
        pdf.close()


def png_of_pdf_pages(pdf: bytes, dpi: int = 150) -> list[bytes]:
    """Each page of a PDF as PNG bytes, for people to look at (test artifacts) and for QR readers."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        pages = []
        for page in document:
            output = io.BytesIO()
            page.render(scale=dpi / 72).to_pil().save(output, format="PNG")
            pages.append(output.getvalue())
        return pages
    finally:
        document.close()
