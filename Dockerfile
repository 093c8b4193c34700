# One image for every commentfeed service; the command picks the process.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml requirements.lock README.md ./
COPY commentfeed ./commentfeed
COPY producers ./producers
COPY streams ./streams
COPY gateway ./gateway
RUN pip install -c requirements.lock '.[rocksdb]'
RUN useradd --system --uid 10001 commentfeed && mkdir -p /data && chown commentfeed /data
USER commentfeed
ENTRYPOINT ["commentfeed"]
