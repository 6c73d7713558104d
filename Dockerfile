# The image of the inactive-account job (flask disable-inactive-users).
# Build from the repository root:  docker build -t ops-disable-inactive-users .
# Settings come from the environment at run time (DATABASE_URL, OPS_ALERT_URLS,
# OPS_ENV_NAME, OPS_DEACTIVATION_*); none is baked into the image, and no .env
# or .flaskenv file is ever read, so without OPS_ENV_NAME it is a deployed environment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=ops_backend.cli:create_cli_app \
    FLASK_SKIP_DOTENV=1

RUN useradd --system --create-home --uid 10001 --user-group ops

WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend ./backend
# Installs this package and exactly the dependencies pyproject.toml declares.
RUN pip install . && rm -rf /app/backend /app/build

USER 10001:10001
WORKDIR /home/ops

# The scheduler may pass options after the command, e.g. --dry-run.
ENTRYPOINT ["flask", "disable-inactive-users"]
