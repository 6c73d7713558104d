"""Service layer: plain functions and small classes that take a Session and an actor.

Owns what the application does: ``users`` (accounts, sign-in, the inactivity
rule applied), ``job`` (the hourly run), ``mail`` (the inactivity e-mail),
``report`` (the evidence report) and ``alerts`` (the job's failure alerts). A
service flushes but never commits, and never reads Flask's globals.

May import: the models, the domain, adapters, each other, and the shared
helpers at the package's root (``audit``, ``clock``, ``config``, ``errors``,
``sql``, ``transactions``). Never an entry point (``ops_api.api``, the CLI) and
never the backend folder (the migrations).
"""
