# One image for every part: `synpunkt web`, `worker`, `smtp`, `imap` (and later `bot`).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY inbox ./inbox
COPY mail ./mail
COPY bot ./bot
RUN pip install --no-cache-dir . && useradd --system --home /app synpunkt
USER synpunkt
ENV SYNPUNKT_WEB_LISTEN=0.0.0.0:8000 SYNPUNKT_SMTP_LISTEN=0.0.0.0:2525
CMD ["synpunkt", "serve"]
