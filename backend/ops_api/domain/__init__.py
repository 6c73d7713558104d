"""The inactivity rule and the job's facts, as plain Python: no database, no network, no Flask.

``defaults`` holds the facts every layer shares (the 60-day rule, the cap, the
job's name, the windows, the mail defaults). ``inactivity`` is the rule's one
Python reference. ``notification_policy`` decides which e-mail is owed.
``clocks`` decides whether a run may trust "now".

May import: the standard library and ``ops_api.domain`` itself, nothing else.
Every other layer may import the domain.
"""
