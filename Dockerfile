# Tandem behind a PostgreSQL and Redis you run elsewhere (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /app tandem

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# README.m[d]: setuptools only warns when the readme is missing, so the build should not fail
# on it either. alembic.ini and migrations/ are not part of the package; they stay in the
# working directory, where `tandem serve` and `tandem migrate` run.
COPY README.m[d] alembic.ini ./
COPY migrations ./migrations
COPY app ./app
RUN pip install --no-deps . && rm -rf build *.egg-info

# Only used when TANDEM_DATABASE_URL is unset (embedded PostgreSQL) or no secret key is given.
RUN mkdir /data && chown tandem:tandem /data
VOLUME ["/data"]

ENV TANDEM_HOST=0.0.0.0 \
    TANDEM_PORT=8000 \
    TANDEM_DATA_DIR=/data

USER tandem
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TANDEM_PORT', '8000') + '/health', timeout=4)"]

CMD ["tandem", "serve"]
