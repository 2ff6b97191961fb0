# Small, non-root image running `python -m bot serve`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY bot/__init__.py bot/__init__.py
COPY adapters/__init__.py adapters/__init__.py
RUN pip install .  && pip uninstall -y imbot

COPY bot bot
COPY adapters adapters
COPY prompts prompts
COPY config.yaml config.yaml
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 bot
USER bot

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"

CMD ["python", "-m", "bot", "serve"]
