# syntax=docker/dockerfile:1
# bizportal: one image for the web app (gunicorn), the RQ worker (`bizportal worker`) and one-off
# commands (`bizportal db upgrade`, `bizportal workflows load`). See docs/deploy.md and compose.yaml.

# ---- build: the virtual environment with every dependency, the project installed in place at /app
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN python -m venv /opt/venv
COPY pyproject.toml README.md babel.cfg ./
COPY bizportal ./bizportal
# Editable: the package reads templates/, static/, workflows/ and forms/ beside it, at the same
# path (/app) in the final image.
RUN /opt/venv/bin/pip install -e .

# ---- runtime: slim, non-root, with WeasyPrint's libraries (Pango, HarfBuzz and its subset library)
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    BIZPORTAL_ENV=production \
    BIZPORTAL_STATE_DIR=/var/lib/bizportal
# Not pinned (DL3008): Debian stable's point releases carry the security fixes these libraries need; an
# exact version pin would stop the build as soon as Debian replaces it. Rebuild the image to take them.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-thai-tlwg \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 bizportal \
    && useradd --create-home --uid 10001 --gid 10001 bizportal \
    && mkdir -p /app/instance /var/lib/bizportal \
    && chown bizportal:bizportal /app/instance /var/lib/bizportal
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
COPY templates ./templates
COPY static ./static
COPY workflows ./workflows
COPY forms ./forms
COPY docker/entrypoint.sh /usr/local/bin/bizportal-entrypoint
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["bizportal-entrypoint"]
# Web by default; the worker runs the same image with `bizportal worker`.
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--graceful-timeout", "30", \
     "--access-logfile", "-", "bizportal.app:create_app()"]
