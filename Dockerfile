# The fairwatch worker image, used by docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY models ./models
COPY streams ./streams
COPY agents ./agents
# rocksdict (for FAIRWATCH_STORE=rocksdb) comes with the dependencies.
RUN pip install .

# Run unprivileged; the data dir exists (owned by the user) so a named volume
# mounted there starts with the right owner.
RUN useradd --system --create-home --uid 10001 fairwatch \
    && mkdir -p /var/lib/fairwatch \
    && chown fairwatch /var/lib/fairwatch
USER fairwatch

ENV FAIRWATCH_WEB_HOST=0.0.0.0 \
    FAIRWATCH_WEB_PORT=6066 \
    FAIRWATCH_DATA_DIR=/var/lib/fairwatch
EXPOSE 6066

# /health answers as soon as the web server is up; /ready is the stricter one.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['FAIRWATCH_WEB_PORT'] + '/health', timeout=2)"

CMD ["fairwatch", "worker", "-l", "info"]
