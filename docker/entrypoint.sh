#!/bin/sh
# Container entrypoint: make the secrets a first start needs, then run the given command.
# SECRET_KEY (sessions) and the licence signing key are created once in the state volume when the
# deployment did not provide them, so `docker compose up` works; a real deployment sets its own.
set -eu

state="${BIZPORTAL_STATE_DIR:-/var/lib/bizportal}"
if [ -z "${SECRET_KEY:-}" ]; then
  if [ ! -s "$state/secret_key" ]; then
    (umask 077 && python -c 'import secrets; print(secrets.token_urlsafe(48))' > "$state/secret_key.tmp" \
      && mv "$state/secret_key.tmp" "$state/secret_key")
  fi
  SECRET_KEY="$(cat "$state/secret_key")"
  export SECRET_KEY
fi
if [ -n "${LICENCE_SIGNING_KEY:-}" ] && [ ! -s "$LICENCE_SIGNING_KEY" ]; then
  (umask 077 && python - "$LICENCE_SIGNING_KEY" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

pem = Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
with open(sys.argv[1] + ".tmp", "wb") as file:
    file.write(pem)
PY
  mv "$LICENCE_SIGNING_KEY.tmp" "$LICENCE_SIGNING_KEY")
fi
exec "$@"
