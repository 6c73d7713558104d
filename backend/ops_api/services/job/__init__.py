"""The hourly job: one run from start to end, its record, and what it needs of its database.

Owns ``hourly_job`` (a run: lock, checks, deactivations, e-mail, alerts, exit
code), ``job_runs`` (the job_run rows and the health answer read from them)
and ``job_database`` (the database's clock, its migration heads, the triggers).

May import: the models, the domain, adapters, the other services, and the
shared helpers at the package's root. Never an entry point, and never the
backend folder (the CLI, the migrations).
"""
