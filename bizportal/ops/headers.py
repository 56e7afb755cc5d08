"""Security headers on every response, and the proxy setting that tells us when TLS is in front.

The pages use no inline script or style (scripts and styles come from /static), so the
Content-Security-Policy can forbid both; a view that serves something else (an uploaded file
shown inline) sets its own, stricter, policy and is left alone. HSTS is only sent on a request
that really arrived over HTTPS — directly, or through `BIZPORTAL_PROXY_HOPS` trusted proxies
whose `X-Forwarded-Proto` says so — because sending it over plain HTTP is ignored by browsers
and would lock out a demo served without TLS.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HSTS = "max-age=31536000; includeSubDomains"

STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def init_app(app: Flask, *, proxy_hops: int) -> None:
    """Trust `proxy_hops` proxies' X-Forwarded-* headers and add the security headers to every response."""
    if proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxy_hops, x_proto=proxy_hops,  # type: ignore[method-assign]
                                x_host=proxy_hops, x_port=proxy_hops, x_prefix=proxy_hops)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        for name, value in STATIC_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
