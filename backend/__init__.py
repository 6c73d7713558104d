"""The OPS backend folder, installed as ``ops_backend``: the CLI module and the migrations."""
