"""Adapters: the edges where the application meets the outside world.

Owns SMTP (``smtp_mail``), alert delivery over HTTP and SMTP
(``alert_delivery``) and what each alert address means (``alert_destinations``,
pure parsing), the thread that cancels the job's waiting statements on a stop
request (``statement_watcher``), and signals as a stop request (``signals``).
Every socket, thread and signal handler of the application is opened here.

May import: the standard library, third-party libraries, ``ops_api.domain``
and the shared helpers at the package's root (``errors``, ``config``). Never a
service, a model or an entry point: services call adapters, not the reverse.
"""
