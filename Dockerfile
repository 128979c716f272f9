# syntax=docker/dockerfile:1
#
# AskCall container image.
#   docker build -t askcall .
#   docker run --env-file .env -p 3000:3000 -v askcall-data:/data askcall
# The SQLite database lives in the /data volume (ASKCALL_DB_PATH=/data/askcall.db).

# ---- builder: build wheels for the project and all its dependencies ----
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Everything not excluded by .dockerignore (pyproject.toml, README.md if present, bot/).
COPY . .
RUN pip wheel --wheel-dir /wheels .

# ---- runtime ----
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Install only from the wheels built above (no network, no compilers); the bind mount keeps
# the wheel files out of the final image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels askcall

RUN groupadd --system --gid 10001 askcall \
    && useradd --system --uid 10001 --gid askcall --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin askcall \
    && mkdir -p /data \
    && chown askcall:askcall /data

ENV ASKCALL_DB_PATH=/data/askcall.db \
    HOST=0.0.0.0 \
    PORT=3000 \
    PYTHONUNBUFFERED=1

WORKDIR /data
# Declared after the chown so a new named volume starts out owned by askcall.
VOLUME /data

USER askcall:askcall

EXPOSE 3000

# slim has no curl: probe /healthz with Python's urllib (non-2xx/connection error -> exit 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:'+__import__('os').environ.get('PORT','3000')+'/healthz',timeout=3).status==200 else 1)"

STOPSIGNAL SIGTERM

ENTRYPOINT ["askcall"]
CMD ["serve"]
