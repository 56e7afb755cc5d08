"""`bizportal licences`: check a licence's QR code offline, and export the agency's public key.

The signing key is the PEM file named by the `LICENCE_SIGNING_KEY` app setting;
without one, outside production, a development key kept in the instance folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from ..app import settings_of
from .qr import QrCodeError, claims_from_text, decode_qr_codes
from .signing import (
    LicenceClaims,
    LicenceSignatureError,
    SigningKey,
    SigningKeyError,
    load_public_keys,
    public_key_jwk,
    public_key_pem,
    signing_key,
)

SIGNING_KEY_SETTING = "LICENCE_SIGNING_KEY"

licences = AppGroup("licences", help="Licence PDFs and their signed QR codes.")
keys = AppGroup("keys", help="The agency's licence signing key.")
licences.add_command(keys)


def configured_signing_key(app: Flask) -> SigningKey:
    """The app's licence signing key (see the module docstring); raises `SigningKeyError`."""
    configured = app.config.get(SIGNING_KEY_SETTING)
    return signing_key(Path(configured) if configured else None, Path(app.instance_path),
                       settings_of(app).production)


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # proxy to the real app
    return app


@licences.command("verify-qr")
@click.argument("file_or_payload")
@click.option("--public-key", "public_key_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM file of the agency's public key(s); default: this portal's own key. Repeatable.")
def verify_qr(file_or_payload: str, public_key_files: tuple[Path, ...]) -> None:
    """Check a licence's QR code: FILE_OR_PAYLOAD is a PDF, a PNG/JPEG photo or scan, or the QR text itself.

    Prints the signed claims, or exits 1 saying why the code does not verify.
    """
    try:
        public_keys = [key for path in public_key_files for key in load_public_keys(path)] \
            or [configured_signing_key(_app()).public_key]
    except SigningKeyError as error:
        raise click.ClickException(str(error)) from None
    path = Path(file_or_payload)
    if _is_file(path):
        try:
            texts = decode_qr_codes(path)
        except QrCodeError as error:
            raise click.ClickException(str(error)) from None
        if not texts:
            raise click.ClickException(f"{path}: no QR code found")
    else:
        texts = [file_or_payload]
    problems = []
    for text in texts:
        try:
            claims = claims_from_text(text, public_keys)
        except LicenceSignatureError as error:
            problems.append(str(error))
            continue
        click.echo(_describe(claims))
        return
    raise click.ClickException("NOT VERIFIED: " + "; ".join(problems))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a payload too long to be a file name
        return False


def _describe(claims: LicenceClaims) -> str:
    lines = ["VERIFIED: the signature matches the agency's public key",
             f"number:      {claims.number}",
             f"holder:      {claims.holder}",
             f"permit type: {claims.permit_key}",
             f"agency:      {claims.agency_id}",
             f"valid from:  {claims.valid_from.isoformat()}",
             f"valid until: {claims.valid_until.isoformat() if claims.valid_until else 'no expiry'}"]
    return "\n".join(lines)


@keys.command("export-public")
@click.option("--format", "output_format", type=click.Choice(["pem", "jwk"]), default="pem", show_default=True,
              help="PEM public key, or a JWK set to publish at a well-known URL.")
def export_public(output_format: str) -> None:
    """Print the public key that checks this portal's licences, for the agency to publish."""
    try:
        public_key = configured_signing_key(_app()).public_key
    except SigningKeyError as error:
        raise click.ClickException(str(error)) from None
    if output_format == "jwk":
        click.echo(json.dumps({"keys": [public_key_jwk(public_key)]}, indent=2))
    else:
        click.echo(public_key_pem(public_key), nl=False)


@licences.command("expire")
def expire_command() -> None:
    """Mark every licence past its last valid day as expired (run daily, e.g. from cron)."""
    import datetime as dt

    from ..database import unit_of_work
    from ..extensions import db
    from .services import expire

    session = db.session()
    with unit_of_work(session):
        numbers = expire(session, dt.datetime.now(dt.UTC))
    for number in numbers:
        click.echo(f"expired: {number}")
    click.echo(f"{len(numbers)} licence(s) marked expired")
