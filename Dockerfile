# image-absence-monitor daemon. Mount a volume at /data for the SQLite database and put the
# config at /data/config.yaml (or set ABSENCE_MONITOR_CONFIG). Secrets via environment.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY monitor ./monitor
COPY alembic ./alembic
RUN pip install --no-cache-dir . && useradd --system --home /data absence
USER absence
WORKDIR /data
ENV ABSENCE_MONITOR_CONFIG=/data/config.yaml
# The status endpoint must be enabled in the config (server.enabled: true, host 0.0.0.0
# inside the container only if you publish it deliberately).
HEALTHCHECK --interval=60s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8377/healthz', timeout=4).status == 200 else 1)"
EXPOSE 8377
ENTRYPOINT ["absence-monitor", "--log-format", "json"]
CMD ["run"]
