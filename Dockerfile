# image-absence-monitor daemon. Mount a volume at /data for the SQLite database and put the
# config at /data/config.yaml (or set ABSENCE_MONITOR_CONFIG). Secrets via environment.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY monitor ./monitor
COPY alembic ./alembic
# /data belongs to the user: a fresh named volume mounted there takes its owner.
RUN pip install --no-cache-dir . && useradd --system --create-home --home-dir /data absence
USER absence
WORKDIR /data
ENV ABSENCE_MONITOR_CONFIG=/data/config.yaml
# Healthy out of the box: `absence-monitor health` reads the daemon's heartbeat and the
# outbox from the database (what /healthz answers), so the status server may stay off.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
  CMD ["absence-monitor", "--log-format", "json", "health"]
EXPOSE 8377
ENTRYPOINT ["absence-monitor", "--log-format", "json"]
CMD ["run"]
