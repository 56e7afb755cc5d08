# bizportal web application: gunicorn serving bizportal.app:create_app() on port 8000.
# Run with SECRET_KEY and DATABASE_URL set (production mode refuses to start without SECRET_KEY).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BIZPORTAL_ENV=production

# Thai fonts and the text-shaping libraries WeasyPrint uses for licence PDFs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-thai-tlwg libpango-1.0-0 libharfbuzz-subset0 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 bizportal
WORKDIR /app

# The package reads templates/, static/, workflows/ and forms/ beside it, so it is installed in place.
COPY pyproject.toml README.md babel.cfg ./
COPY bizportal ./bizportal
COPY templates ./templates
COPY static ./static
COPY workflows ./workflows
COPY forms ./forms
RUN pip install -e . && mkdir -p /app/instance && chown bizportal:bizportal /app/instance

USER bizportal
EXPOSE 8000
# Migrations run before serving; with several replicas, run `bizportal db upgrade` once instead.
CMD ["sh", "-c", "bizportal db upgrade && exec gunicorn --bind 0.0.0.0:8000 --workers 2 --access-logfile - 'bizportal.app:create_app()'"]
