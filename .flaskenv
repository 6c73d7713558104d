# Read by python-dotenv when `flask` runs from the repository root (never by the image).
FLASK_APP=ops_backend.cli:create_cli_app
# A development environment, so that seed-demo and the README's first command work
# from a checkout. Anything else, or nothing, counts as deployed.
OPS_ENV_NAME=local
