# Read by python-dotenv when `flask` runs from the repository root.
FLASK_APP=ops_backend.cli:create_cli_app
