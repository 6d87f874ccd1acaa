# The API on python:3.11-slim, as a non-root user, installed from this repository with the
# pinned resolution. Settings come from the environment (README "Running the service").
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md constraints.txt openapi.yaml ./
COPY service ./service
COPY harness ./harness
RUN pip install --no-cache-dir --constraint constraints.txt . \
    && groupadd --system --gid 10001 rakubun \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/rakubun --create-home rakubun

USER 10001:10001
# The embedded store's file when MONGODB_URL is unset (compose sets MONGODB_URL).
ENV SQLITE_PATH=/var/lib/rakubun/rakubun.sqlite3
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=4).status != 200)"]
ENTRYPOINT ["rakubun-service", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--workers", "1"]
