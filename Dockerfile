# The image of the inactive-account job (flask disable-inactive-users).
# Build from the repository root:  docker build -t ops-disable-inactive-users .
# Settings come from the environment at run time (DATABASE_URL, OPS_ALERT_URLS,
# OPS_ENV_NAME, OPS_DEACTIVATION_*); none is baked into the image, and no .env
# or .flaskenv file is ever read, so without OPS_ENV_NAME it is a deployed environment.
# The newest Python this project supports, the one OPS's backend runs on; keep it
# in step with requirements.lock (compiled for it) and pyproject.toml.
FROM python:3.14-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=ops_backend.cli:create_cli_app \
    FLASK_SKIP_DOTENV=1

RUN useradd --system --create-home --uid 10001 --user-group ops

WORKDIR /app
# Exactly the locked versions, checked against their hashes (OPS's pins for the
# libraries both share, both PostgreSQL drivers), then this package alone.
COPY requirements.lock ./
RUN pip install --no-deps --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY backend ./backend
RUN pip install --no-deps . && pip check && rm -rf /app/backend /app/build

USER 10001:10001
WORKDIR /home/ops

# The scheduler may pass options after the command, e.g. --dry-run.
ENTRYPOINT ["flask", "disable-inactive-users"]
