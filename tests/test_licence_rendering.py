"""Licence PDFs and their signed QR codes, checked the way a reader and a verifier would.

The PDF's text is read back with pypdf, its fonts with pdffonts (or pypdf), and its
QR code is decoded from a 150 dpi rendering with zxing-cpp, a real QR reader; the
decoded payload must verify against the agency's public key and must stop
verifying when any one of its bytes changes. Each seed permit's licence is also
written as PNG pages to `test-artifacts/screenshots/licence-<key>-<page>.png`
for a person to look at.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import gc
import io
import multiprocessing
import re
import shutil
import subprocess
import threading
import traceback
import unicodedata
import warnings
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import geothai
import jwt
import pypdf
import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskCliRunner
from PIL import Image

from bizportal.businesses import addresses
from bizportal.cli import cli as bizportal_cli
from bizportal.config import BIZPORTAL_ROOT
from bizportal.licences.cli import configured_signing_key, export_public, verify_qr
from bizportal.licences.document import (
    MAX_CONDITIONS,
    MAX_FIELDS,
    MAX_NAME_CHARS,
    Bilingual,
    LicenceContentError,
    LicenceDocument,
    Officer,
    build_document,
    valid_until,
)
from bizportal.licences.qr import claims_from_text, png_of_pdf_pages
from bizportal.licences.rendering import (
    AssetRefused,
    LicenceAssetFetcher,
    LicenceRenderer,
    LicenceRenderingError,
    RenderThread,
)
from bizportal.licences.signing import (
    LicenceClaims,
    LicenceSignatureError,
    SigningKey,
    SigningKeyError,
    key_id,
    public_key_jwk,
    sign_claims,
    signing_key,
    verify_token,
)
from bizportal.ops.logs import bound_request_id, current_request_id
from bizportal.workflow.spec import PermitSpec, Validity
from bizportal.workflow.validation import ValidationResult, validate_tree

SCREENSHOTS = BIZPORTAL_ROOT / "test-artifacts" / "screenshots"
ISSUED_ON = dt.date(2026, 11, 26)
BASE_URL = "https://bizportal.example.go.th"
OFFICERS = {
    "food_premises": Officer("นางสาวสมหญิง ใจดี", Bilingual("เจ้าพนักงานสาธารณสุข ปฏิบัติหน้าที่แทนเจ้าพนักงานท้องถิ่น",
                                                             "Public health officer, for the local officer")),
    "liquor_sales": Officer("นายประเสริฐ มั่นคง", Bilingual("สรรพสามิตพื้นที่", "Area excise officer")),
    "water_meter": Officer("นางวิไล สุขสม", Bilingual("ผู้จัดการการประปาสาขา", "Branch manager")),
}
OFFICER = OFFICERS["food_premises"]
THAI_HOLDER = "บริษัท ข้าวมันไก่ป้าน้อย จำกัด"
THAI_BUSINESS = "ร้านข้าวมันไก่ป้าน้อย น้ำจิ้มรสเด็ด (สาขาสุขุมวิท)"


# --------------------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def seeds() -> ValidationResult:
    result = validate_tree(BIZPORTAL_ROOT, [BIZPORTAL_ROOT / "templates" / "licences"])
    assert result.ok, result.problems
    return result


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def renderer() -> Iterator[LicenceRenderer]:
    built = LicenceRenderer()
    yield built
    built.close()


def thai_address(subdistrict_code: str, house_no: str, **parts: str) -> dict[str, str]:
    """A stored address as the application form makes it (Thai names from the official lists)."""
    found = geothai.address(subdistrict_code)
    assert found is not None
    area = addresses.resolve(found.province.code, found.district.code, subdistrict_code,
                             sorted(found.subdistrict.postal_codes)[0])
    assert area is not None
    address = dict.fromkeys(("building", "moo", "village", "soi", "road"), "")
    address.update(house_no=house_no, subdistrict=area.subdistrict, district=area.district, province=area.province,
                   province_code=area.province_code, postcode=area.postcode, **parts)
    return address


SEED_ANSWERS: dict[str, dict[str, Any]] = {
    "food_premises": {
        "applicant_name": THAI_HOLDER, "business_name": THAI_BUSINESS, "premises_kind": "sale",
        "premises_address": thai_address("103901", "99/12", soi="สุขุมวิท 11", road="สุขุมวิท"),
        "area_m2": 180.0,
    },
    "liquor_sales": {
        "applicant_name": "นายสมชาย รักดี", "licence_types": ["type2"], "premises_name": "ร้านลาบเป็ดเชียงใหม่",
        "premises_address": thai_address("500101", "7", moo="3", road="มูลเมือง"),
    },
    "water_meter": {
        "applicant_name": "นางมาลี ศรีสุข", "meter_size": "0.75", "install_type": "permanent",
        "usage_class": "other", "premises_address": thai_address("500101", "21/4", soi="ราชมรรคา 2"),
    },
}


def document_for(seeds: ValidationResult, permit_key: str, key: SigningKey,
                 answers: Mapping[str, Any] | None = None, number: str = "FP-00042/2569") -> LicenceDocument:
    spec: PermitSpec = seeds.specs[permit_key]
    agency = seeds.agencies[spec.permit.issuing_agency]
    return build_document(permit_key=permit_key, licence=spec.permit.licence, form=spec.form,
                          answers=SEED_ANSWERS[permit_key] if answers is None else answers, number=number,
                          agency_id=agency.id, agency_name=Bilingual(agency.name.th, agency.name.en),
                          issued_on=ISSUED_ON, officer=OFFICERS[permit_key], signing_key=key,
                          verify_base_url=BASE_URL)


def searchable(text: str) -> str:
    """Thai text as a search index compares it: NFKC (ำ is ํ + า) and NIKHAHIT after a tone mark."""
    return unicodedata.normalize("NFKC", re.sub("\u0e4d([\u0e48-\u0e4b])", "\\1\u0e4d", text))


def pdf_text(pdf: bytes) -> str:
    """The PDF's text as a PDF library reads it (pypdf), in searchable form."""
    return searchable("\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages))


def page_images(pdf: bytes, tmp_path: Path) -> list[Image.Image]:
    """Page images at 150 dpi: by pdftoppm (poppler) when installed, else by PDFium."""
    if shutil.which("pdftoppm"):
        (tmp_path / "licence.pdf").write_bytes(pdf)
        subprocess.run(["pdftoppm", "-r", "150", "-png", str(tmp_path / "licence.pdf"), str(tmp_path / "page")],
                       check=True, timeout=60)
        return [Image.open(io.BytesIO(path.read_bytes())) for path in sorted(tmp_path.glob("page-*.png"))]
    return [Image.open(io.BytesIO(png)) for png in png_of_pdf_pages(pdf, dpi=150)]


def assert_side_margins_blank(image: Image.Image) -> None:
    """Nothing drawn in the outer 10 mm of each side, outside the page frame: no text ran off the page."""
    grey = image.convert("L")
    strip = round(10 / 25.4 * grey.width / 8.27)  # 10 mm in pixels on an A4 (8.27 in) page
    for box in ((0, 0, strip, grey.height), (grey.width - strip, 0, grey.width, grey.height)):
        darkest, _ = grey.crop(box).getextrema()
        assert isinstance(darkest, int) and darkest > 200, f"something is drawn in the page margin {box}"


def decode_qr(image: Image.Image) -> str:
    results = [result for result in zxingcpp.read_barcodes(image) if result.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(results) == 1, "exactly one QR code on the page"
    return str(results[0].text)


def embedded_fonts(pdf: bytes) -> list[str]:
    """Names of the fonts embedded in the PDF (those with a font file)."""
    names = []
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        resources: Any = page["/Resources"]
        for font in resources["/Font"].values():
            for descendant in font.get_object().get("/DescendantFonts", [font]):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                if any(name in descriptor for name in ("/FontFile", "/FontFile2", "/FontFile3")):
                    names.append(str(descriptor["/FontName"]).lstrip("/"))
    return names


def flip_byte(token: str, part: int, index: int) -> str:
    """`token` with byte `index` of its part `part` (0 header, 1 payload, 2 signature) changed."""
    segments = token.split(".")
    data = bytearray(base64.urlsafe_b64decode(segments[part] + "=" * (-len(segments[part]) % 4)))
    data[index] ^= 0x01
    segments[part] = base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode("ascii")
    return ".".join(segments)


def token_of(qr_text: str) -> str:
    return qr_text.split("?t=", 1)[1]


# --------------------------------------------------------------------------- the food-premises licence

def test_food_premises_pdf_prints_number_thai_names_and_both_eras(seeds: ValidationResult, key: SigningKey,
                                                                  renderer: LicenceRenderer) -> None:
    pdf = renderer.render(document_for(seeds, "food_premises", key))

    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "FP-00042/2569" in text
    assert searchable(THAI_BUSINESS) in text
    assert searchable(THAI_HOLDER) in text
    assert "แขวงคลองเตยเหนือ" in text
    # Buddhist Era in Thai: issued 26 Nov 2569, valid up to and including 25 Nov 2570.
    assert "26 พฤศจิกายน 2569" in text
    assert "25 พฤศจิกายน 2570" in text
    assert "Valid from 26 November 2026 to 25 November 2027" in text
    assert "Issued on 26 November 2026" in text
    assert "Display this document openly" in text
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == 1


def test_thai_words_read_back_as_printed(seeds: ValidationResult, key: SigningKey,
                                        renderer: LicenceRenderer) -> None:
    """Without the rebuilt ToUnicode maps, `น้ำ` made every later `า` read back as `้ำ` (`นาง` → `น้ำง`)."""
    answers = {**SEED_ANSWERS["water_meter"], "applicant_name": "นางน้ำฝน คำดี"}

    text = pdf_text(renderer.render(document_for(seeds, "water_meter", key, answers)))

    for words in ("นางน้ำฝน คำดี", "หนังสือยืนยันการติดตั้งมาตรวัดน้ำ", "ไม่มีกำหนดสิ้นอายุ",
                  "ผู้ใช้น้ำต้องปฏิบัติตามสัญญา", "ประเภทผู้ใช้น้ำ", "(นางวิไล สุขสม)"):
        assert searchable(words) in text, words


def test_the_pdf_embeds_only_sarabun_subsets(seeds: ValidationResult, key: SigningKey,
                                             renderer: LicenceRenderer, tmp_path: Path) -> None:
    pdf = renderer.render(document_for(seeds, "food_premises", key))

    fonts = embedded_fonts(pdf)
    assert fonts
    assert all(re.fullmatch(r"[A-Z]{6}\+Sarabun(-[A-Za-z-]+)?", name) for name in fonts), fonts
    if shutil.which("pdffonts"):
        (tmp_path / "licence.pdf").write_bytes(pdf)
        listing = subprocess.run(["pdffonts", str(tmp_path / "licence.pdf")], capture_output=True, text=True,
                                 check=True, timeout=60).stdout.splitlines()[2:]
        assert listing
        for line in listing:
            name, *columns = line.split()
            assert "+Sarabun" in name and columns[-5:-2] == ["yes", "yes", "yes"], line  # emb sub uni


def test_the_qr_code_decodes_to_a_payload_that_verifies_and_breaks_on_any_changed_byte(
        seeds: ValidationResult, key: SigningKey, renderer: LicenceRenderer, tmp_path: Path) -> None:
    document = document_for(seeds, "food_premises", key)
    first_page = page_images(renderer.render(document), tmp_path)[0]

    scanned = decode_qr(first_page)

    assert scanned == document.qr_text
    assert scanned.startswith(f"{BASE_URL}/verify/FP-00042%2F2569?t=")
    claims = claims_from_text(scanned, [key.public_key])
    assert claims == LicenceClaims(number="FP-00042/2569", holder=THAI_HOLDER, permit_key="food_premises",
                                   agency_id="demo_municipality", valid_from=ISSUED_ON,
                                   valid_until=dt.date(2027, 11, 25))
    token = token_of(scanned)
    for part in range(3):
        length = len(base64.urlsafe_b64decode(token.split(".")[part] + "=="))
        for index in range(length):
            with pytest.raises(LicenceSignatureError):
                verify_token(flip_byte(token, part, index), [key.public_key])


def test_the_longest_holder_name_still_gives_a_readable_qr_code(seeds: ValidationResult, key: SigningKey,
                                                                renderer: LicenceRenderer, tmp_path: Path) -> None:
    holder = ("บริษัท ข้าวมันไก่ป้าน้อย น้ำจิ้มรสเด็ด จำกัด " * 10)[:MAX_NAME_CHARS]
    unbroken = "X" * 150  # no break opportunity: must wrap inside its cell, not run off the page
    document = document_for(seeds, "food_premises", key, {**SEED_ANSWERS["food_premises"], "applicant_name": holder,
                                                          "business_name": unbroken})

    pdf = renderer.render(document)

    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) <= 2
    for image in page_images(pdf, tmp_path):
        assert_side_margins_blank(image)
    scanned = [text for image in page_images(pdf, tmp_path)
               for text in (result.text for result in zxingcpp.read_barcodes(image))]
    assert scanned == [document.qr_text]
    assert claims_from_text(scanned[0], [key.public_key]).holder == holder.strip()


def test_the_payload_is_a_standard_jws_any_jose_library_checks(seeds: ValidationResult, key: SigningKey) -> None:
    token = token_of(document_for(seeds, "food_premises", key).qr_text)

    claims = jwt.decode(token, key.public_key, algorithms=["EdDSA"])

    assert claims == {"n": "FP-00042/2569", "h": THAI_HOLDER, "p": "food_premises", "iss": "demo_municipality",
                      "f": "2026-11-26", "u": "2027-11-25"}
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": key.kid}
    assert key.kid == public_key_jwk(key.public_key)["kid"] == key_id(key.public_key)


def test_a_payload_fails_under_another_key_another_number_or_another_algorithm(
        seeds: ValidationResult, key: SigningKey) -> None:
    document = document_for(seeds, "food_premises", key)
    other = SigningKey(Ed25519PrivateKey.generate())

    with pytest.raises(LicenceSignatureError, match="not one of the public keys"):
        claims_from_text(document.qr_text, [other.public_key])
    moved = document.qr_text.replace("/verify/FP-00042%2F2569", "/verify/FP-00043%2F2569")
    with pytest.raises(LicenceSignatureError, match="names licence 'FP-00043/2569'"):
        claims_from_text(moved, [key.public_key])
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode() + "." \
        + token_of(document.qr_text).split(".")[1] + "."
    with pytest.raises(LicenceSignatureError, match="not EdDSA"):
        verify_token(unsigned, [key.public_key])
    assert claims_from_text(token_of(document.qr_text), [other.public_key, key.public_key]) == document.claims


def test_validity_counts_the_issue_day_and_a_permanent_licence_has_no_end() -> None:
    assert valid_until(dt.date(2026, 11, 26), Validity(years=1)) == dt.date(2027, 11, 25)
    assert valid_until(dt.date(2028, 2, 29), Validity(years=1)) == dt.date(2029, 2, 28)
    assert valid_until(dt.date(2026, 1, 31), Validity(months=1)) == dt.date(2026, 2, 28)
    assert valid_until(dt.date(2026, 11, 26), Validity(days=30)) == dt.date(2026, 12, 25)
    assert valid_until(dt.date(2026, 11, 26), Validity(permanent=True)) is None


def test_a_permanent_licence_says_it_has_no_expiry(seeds: ValidationResult, key: SigningKey,
                                                   renderer: LicenceRenderer) -> None:
    document = document_for(seeds, "water_meter", key, number="PWA-2569-00007")

    text = pdf_text(renderer.render(document))

    assert document.valid_until is None and "u" not in document.claims.to_payload()
    assert searchable("ไม่มีกำหนดสิ้นอายุ") in text and "with no expiry date" in text
    assert "จนถึงวันที่" not in text
    assert searchable("¾ นิ้ว") in text and "Business, industry and other" in text


# --------------------------------------------------------------------------- the command line

def test_verify_qr_command_reads_a_png_a_pdf_and_the_payload_text(
        app: Flask, runner: FlaskCliRunner, seeds: ValidationResult, renderer: LicenceRenderer,
        tmp_path: Path) -> None:
    with app.app_context():
        portal_key = configured_signing_key(app)
    document = document_for(seeds, "food_premises", portal_key)
    pdf = renderer.render(document)
    (tmp_path / "licence.pdf").write_bytes(pdf)
    page_images(pdf, tmp_path)[0].save(tmp_path / "licence.png")

    for argument in (str(tmp_path / "licence.png"), str(tmp_path / "licence.pdf"), document.qr_text,
                     token_of(document.qr_text)):
        result = runner.invoke(verify_qr, [argument])
        assert result.exit_code == 0, result.output
        assert "VERIFIED" in result.output and "FP-00042/2569" in result.output
        assert THAI_HOLDER in result.output and "2027-11-25" in result.output

    tampered = flip_byte(token_of(document.qr_text), 1, 10)
    result = runner.invoke(verify_qr, [tampered])
    assert result.exit_code == 1
    assert "NOT VERIFIED" in result.output and "signature does not match" in result.output

    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), "white").save(blank)
    result = runner.invoke(verify_qr, [str(blank)])
    assert result.exit_code == 1 and "no QR code found" in result.output


def test_verify_qr_checks_against_a_published_public_key(
        app: Flask, runner: FlaskCliRunner, seeds: ValidationResult, key: SigningKey, tmp_path: Path) -> None:
    published = runner.invoke(bizportal_cli, ["licences", "keys", "export-public"])
    assert published.exit_code == 0, published.output
    assert published.output.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "agency.pem").write_text(published.output, encoding="ascii")
    with app.app_context():
        portal_key = configured_signing_key(app)

    good = runner.invoke(verify_qr, [document_for(seeds, "food_premises", portal_key).qr_text,
                                     "--public-key", str(tmp_path / "agency.pem")])
    foreign = runner.invoke(verify_qr, [document_for(seeds, "food_premises", key).qr_text,
                                        "--public-key", str(tmp_path / "agency.pem")])

    assert good.exit_code == 0, good.output
    assert foreign.exit_code == 1 and "not one of the public keys" in foreign.output
    jwks = runner.invoke(export_public, ["--format", "jwk"])
    assert jwks.exit_code == 0 and f'"kid": "{portal_key.kid}"' in jwks.output


def _development_key_id(folder: str, barrier: Any, results: Any) -> None:
    barrier.wait(timeout=60)
    try:
        results.put(signing_key(None, Path(folder), production=False).kid)
    except SigningKeyError as error:
        results.put(f"error: {error}")


def test_workers_starting_together_share_one_complete_development_key(tmp_path: Path) -> None:
    """Eight processes make the development key at the same moment, five times over: every one gets the same
    key, none reads a half-written file (a worker once failed every licence with "MalformedFraming" after
    another was killed while writing it), and no temporary file is left."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    for attempt in range(5):
        folder = tmp_path / f"instance-{attempt}"
        barrier, results = context.Barrier(8), context.Queue()
        processes = [context.Process(target=_development_key_id, args=(str(folder), barrier, results))
                     for _ in range(8)]
        for process in processes:
            process.start()
        kids = [results.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        assert len(set(kids)) == 1 and not kids[0].startswith("error"), kids
        assert kids[0] == signing_key(None, folder, production=False).kid
        assert sorted(path.name for path in folder.iterdir()) == ["licence_signing_key.pem"]


def test_production_refuses_to_sign_with_a_development_key(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="production needs"):
        signing_key(None, tmp_path, production=True)
    assert not (tmp_path / "licence_signing_key.pem").exists()
    development = signing_key(None, tmp_path, production=False)
    assert (tmp_path / "licence_signing_key.pem").stat().st_mode & 0o077 == 0
    assert signing_key(None, tmp_path, production=False).kid == development.kid
    assert signing_key(tmp_path / "licence_signing_key.pem", tmp_path / "elsewhere", production=True).kid \
        == development.kid


# --------------------------------------------------------------------------- the render thread

class WatchingFetcher(LicenceAssetFetcher):
    """The licence asset fetcher, noting for each asset it serves how deep the Python stack is and which
    request id the log lines would carry (WeasyPrint fetches the emblem during each render)."""

    def __init__(self, assets_dir: Path) -> None:
        super().__init__(assets_dir)
        self.seen: list[tuple[int, str | None, threading.Thread]] = []

    def fetch(self, url: str, headers: Any = None) -> Any:
        self.seen.append((len(traceback.extract_stack()), current_request_id(), threading.current_thread()))
        return super().fetch(url, headers)


def _render_in_child(thread: RenderThread, document: LicenceDocument, results: Any) -> None:
    results.put(len(thread.render(document)))


def test_the_render_thread_renders_at_the_same_shallow_depth_whoever_calls_it(
        seeds: ValidationResult, key: SigningKey) -> None:
    """On CPython 3.11 a render called from deep in a worker's stack cost ~10 ms more per licence (see
    `RenderThread`): through the render thread, WeasyPrint runs at one depth however deep the caller is."""
    document = document_for(seeds, "food_premises", key)
    thread = RenderThread(LicenceRenderer())
    watcher = WatchingFetcher(thread.renderer.assets_dir)
    thread.renderer.fetcher = watcher
    try:
        def from_depth(levels: int) -> bytes:
            return from_depth(levels - 1) if levels else thread.render(document)

        with bound_request_id("req-render-1"):
            shallow = from_depth(0)
            deep = from_depth(120)

        (shallow_depth, shallow_id, shallow_thread), (deep_depth, deep_id, deep_thread) = watcher.seen
        assert shallow_depth == deep_depth
        assert shallow_thread is deep_thread is not threading.current_thread()
        assert shallow_id == deep_id == "req-render-1"  # log lines of the render keep the job's request id
        assert "FP-00042/2569" in pdf_text(deep) and pdf_text(deep) == pdf_text(shallow)

        # A failing render raises in the caller, and the thread goes on rendering.
        broken = dataclasses.replace(document, template="../base.html")
        with pytest.raises(LicenceContentError):
            thread.render(broken)
        assert pdf_text(thread.render(document)) == pdf_text(shallow)

        # A forked process (RQ's work horse) gets a render thread of its own instead of waiting forever
        # for its parent's, which the fork did not copy.
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        child = context.Process(target=_render_in_child, args=(thread, document, results))
        with warnings.catch_warnings():  # Python 3.12+ warns about forking a process that has threads, as RQ does
            warnings.simplefilter("ignore", DeprecationWarning)
            child.start()
        child.join(timeout=120)
        if child.exitcode is None:
            child.kill()
        assert child.exitcode == 0, "the forked process's render did not finish"
        assert results.get(timeout=5) > 10_000
    finally:
        thread.close()
    assert not deep_thread.is_alive()  # closing ends the render thread


# --------------------------------------------------------------------------- safety and limits

class Canary:
    """An HTTP server on 127.0.0.1 that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  # the name http.server calls
                canary.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.mark.security
def test_applicant_text_is_printed_as_text_and_fetches_nothing(
        seeds: ValidationResult, key: SigningKey, renderer: LicenceRenderer, canary: Canary) -> None:
    image = f'<img src="{canary.url}/canary">'
    stylesheet = f'<link rel="stylesheet" href="{canary.url}/canary.css">'
    answers = {**SEED_ANSWERS["food_premises"], "business_name": image, "applicant_name": stylesheet,
               "premises_address": thai_address("103901", f"<style>@import url({canary.url}/import.css)</style>")}
    document = document_for(seeds, "food_premises", key, answers)

    html = renderer.html(document)
    text = re.sub(r"\s+", "", pdf_text(renderer.render(document)))

    assert "&lt;img src=&#34;http://127.0.0.1:" in html and "<img src=\"http://127.0.0.1" not in html
    assert re.sub(r"\s+", "", image) in text
    assert re.sub(r"\s+", "", stylesheet) in text
    assert canary.requests == []
    # The canary does answer: a request would have been seen.
    import urllib.request
    with urllib.request.urlopen(f"{canary.url}/probe", timeout=5):
        pass
    assert canary.requests == ["/probe"]


@pytest.mark.security
def test_the_fetcher_stops_a_template_that_reaches_outside_its_assets(
        seeds: ValidationResult, key: SigningKey, canary: Canary, tmp_path: Path) -> None:
    templates = tmp_path / "licences"
    shutil.copytree(BIZPORTAL_ROOT / "templates" / "licences", templates)
    document = document_for(seeds, "food_premises", key)
    base = (templates / "base.html").read_text(encoding="utf-8")
    for reference in (f'<img src="{canary.url}/canary">', '<img src="file:///etc/hostname">',
                      '<img src="bizportal-asset:../../../../../../etc/hostname">',
                      '<img src="data:image/svg+xml;base64,PHN2Zy8+">'):
        (templates / "base.html").write_text(base.replace("<main>", "<main>" + reference), encoding="utf-8")
        with pytest.raises(LicenceRenderingError):
            LicenceRenderer(templates).render(document)
    assert canary.requests == []


@pytest.mark.security
def test_the_fetcher_serves_only_files_inside_the_assets_folder() -> None:
    fetcher = LicenceAssetFetcher(BIZPORTAL_ROOT / "templates" / "licences" / "assets")

    assert fetcher.read("bizportal-asset:fonts/Sarabun-Regular.ttf")[:4] == b"\x00\x01\x00\x00"
    for url in ("http://127.0.0.1/x", "https://example.com/font.ttf", "file:///etc/passwd",
                f"file://{BIZPORTAL_ROOT}/templates/licences/assets/licence.css", "data:text/css,body{}",
                "bizportal-asset:../base.html", "bizportal-asset:%2e%2e/%2e%2e/%2e%2e/bizportal/config.py",
                "bizportal-asset:/etc/passwd", "bizportal-asset:fonts", "bizportal-asset:"):
        with pytest.raises(AssetRefused):
            fetcher.read(url)


@pytest.mark.security
def test_limits_refuse_what_is_too_large_to_print(seeds: ValidationResult, key: SigningKey,
                                                  renderer: LicenceRenderer) -> None:
    spec = seeds.specs["food_premises"]
    answers = SEED_ANSWERS["food_premises"]

    with pytest.raises(LicenceContentError, match="'applicant_name' has 201 characters"):
        document_for(seeds, "food_premises", key, {**answers, "applicant_name": "ก" * (MAX_NAME_CHARS + 1)})
    with pytest.raises(LicenceContentError, match="'applicant_name' is needed"):
        document_for(seeds, "food_premises", key, {**answers, "applicant_name": "   "})
    too_many_fields = spec.permit.licence.model_copy(update={"printed_fields": ("area_m2",) * (MAX_FIELDS + 1)})
    too_many_conditions = spec.permit.licence.model_copy(
        update={"conditions": spec.permit.licence.conditions[:1] * (MAX_CONDITIONS + 1)})
    for licence in (too_many_fields, too_many_conditions):
        with pytest.raises(LicenceContentError, match="at most"):
            build_document(permit_key="food_premises", licence=licence, form=spec.form, answers=answers,
                           number="FP-1", agency_id="demo_municipality", agency_name=Bilingual("ก", "A"),
                           issued_on=ISSUED_ON, officer=OFFICER, signing_key=key, verify_base_url=BASE_URL)
    # A document that would run past two pages is refused by the renderer.
    document = document_for(seeds, "food_premises", key)
    longer = dataclasses.replace(document, conditions=document.conditions * 20)
    with pytest.raises(LicenceRenderingError, match="pages"):
        renderer.render(longer)


@pytest.mark.security
def test_control_and_direction_characters_are_not_printed(seeds: ValidationResult, key: SigningKey) -> None:
    answers = {**SEED_ANSWERS["food_premises"], "business_name": "ร้าน\u202eดี\x00\n\tมาก"}

    document = document_for(seeds, "food_premises", key, answers)

    assert document.business_name == "ร้าน ดี มาก"


# --------------------------------------------------------------------------- pages for people

@pytest.mark.parametrize("permit_key", sorted(SEED_ANSWERS))
def test_each_seed_licence_is_one_a4_page_saved_for_review(permit_key: str, seeds: ValidationResult,
                                                           key: SigningKey, renderer: LicenceRenderer) -> None:
    number = {"food_premises": "FP-00042/2569", "liquor_sales": "LQ-2569-00015",
              "water_meter": "PWA-2569-00007"}[permit_key]
    document = document_for(seeds, permit_key, key, number=number)

    pdf = renderer.render(document)

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1, "the licence fits on one page"
    width, height = (float(value) for value in reader.pages[0].mediabox[2:])
    assert (round(width * 25.4 / 72), round(height * 25.4 / 72)) == (210, 297)  # A4 in mm
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for stale in SCREENSHOTS.glob(f"licence-{permit_key}-*.png"):
        stale.unlink()
    for page, png in enumerate(png_of_pdf_pages(pdf, dpi=110), start=1):
        (SCREENSHOTS / f"licence-{permit_key}-{page}.png").write_bytes(png)
        assert_side_margins_blank(Image.open(io.BytesIO(png)))
    assert claims_from_text(decode_qr(Image.open(io.BytesIO(png_of_pdf_pages(pdf, dpi=150)[0]))),
                            [key.public_key]).number == number
    assert sign_claims(document.claims, key).split(".")[1] == token_of(document.qr_text).split(".")[1]


def test_a_render_sets_off_no_garbage_collection_until_it_is_done_then_frees_its_cycles(
        seeds: ValidationResult, key: SigningKey, renderer: LicenceRenderer) -> None:
    """The collector is paused while WeasyPrint lays the licence out (it walked the live boxes ~20 times
    per licence); one collection afterwards frees the ~9,000 objects the render left in cycles, and every
    tenth or so is of an older generation, so that what reaches them is collected too."""
    document = document_for(seeds, "food_premises", key)
    renderer.render(document)  # the renderer's lasting caches are filled
    per_render: list[list[int]] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            per_render[-1].append(info["generation"])

    gc.collect()
    gc.callbacks.append(watch)
    try:
        for _ in range(12):
            per_render.append([])
            renderer.render(document)
            left = gc.get_count()[0]
    finally:
        gc.callbacks.remove(watch)
    assert all(len(collections) == 1 for collections in per_render), \
        f"collections during and after each render, by generation: {per_render}"
    assert any(collections[0] > 0 for collections in per_render), "older generations are never collected"
    assert left < 100, "the render's reference cycles were left for a later collection"
    assert gc.isenabled()
