# syntax=docker/dockerfile:1
#
# AskCall container image.
#   docker build -t askcall .
#   docker run --env-file .env -p 3000:3000 -v askcall-data:/data --stop-timeout 30 askcall
# The SQLite database lives in the /data volume (ASKCALL_DB_PATH=/data/askcall.db). The stop timeout must be
# longer than ASKCALL_SHUTDOWN_GRACE (20 s by default); Docker's own default is 10 s.

# ---- builder: wheels for the locked dependencies, then for AskCall itself ----
# Python 3.11: the version requirements.lock was resolved with (tests/test_container_files.py checks they agree).
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The dependencies first, in a layer of their own: it is rebuilt only when requirements.lock changes, not on
# every code edit. --require-hashes: every file downloaded must match a hash in the lock.
COPY requirements.lock ./
RUN pip wheel --require-hashes --wheel-dir /wheels -r requirements.lock
# Then the source: everything not excluded by .dockerignore (pyproject.toml, README.md, LICENSE, bot/).
# --no-deps: the dependencies are the locked ones above.
COPY . .
RUN pip wheel --no-deps --wheel-dir /dist .

# ---- runtime ----
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Install only from the wheels built above (no network, no compilers); the bind mounts keep the wheel files out
# of the final image. The locked dependencies get their own layer, reused as long as the lock is unchanged; then
# AskCall, without resolving anything again, and `pip check` fails the build if the lock doesn't satisfy it.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --no-deps /wheels/*.whl
RUN --mount=type=bind,from=builder,source=/dist,target=/dist \
    pip install --no-index --no-deps /dist/*.whl \
    && pip check

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
