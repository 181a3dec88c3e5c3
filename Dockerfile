# One image for every part: `synpunkt serve` by default, and `web`, `worker`, `smtp`, `imap`,
# `bot` and `db upgrade` as docker-compose.yml runs them. See "Operating Synpunkt" in the README.

# The wheel, built from the package alone: the image gets exactly what an installation gets.
FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY inbox ./inbox
COPY mail ./mail
COPY bot ./bot
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /dist .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# tini as PID 1: it hands SIGTERM on to synpunkt and reaps what the parse processes leave.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

# The locked dependencies in a layer of their own, rebuilt only when requirements.lock changes;
# every file is checked against its hash.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes --only-binary :all: -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

# Then Synpunkt itself, without dependencies: they are the locked ones above.
COPY --from=wheel /dist/ /tmp/dist/
RUN pip install --no-deps /tmp/dist/*.whl && rm -rf /tmp/dist
COPY deploy/healthcheck.py /usr/local/lib/synpunkt-healthcheck.py

# A user of its own, and /data, the one folder it writes to (var/: SQLite, the key file, a
# file outbox); docker-compose.yml mounts a volume there.
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home synpunkt \
    && mkdir /data && chown synpunkt:synpunkt /data && chmod 0750 /data
USER synpunkt:synpunkt
WORKDIR /data

ENV SYNPUNKT_WEB_LISTEN=0.0.0.0:8000 SYNPUNKT_SMTP_LISTEN=0.0.0.0:2525
EXPOSE 8000 2525
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/lib/synpunkt-healthcheck.py"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["synpunkt", "serve"]
