"""Licences: the printed certificate, its signed QR code, and (later) numbering, renewal and revocation.

`document.build_document()` turns plain values into a `LicenceDocument`,
`rendering.LicenceRenderer` turns that into PDF bytes, and `signing` / `qr` make and
check the Ed25519-signed payload the QR code carries. See docs/licences.md.
"""
