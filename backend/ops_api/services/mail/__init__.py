"""The inactivity e-mail: which message each user and admin is owed after a run, written and sent once.

Owns ``notifications`` (the warnings, the notices and the admins' summary,
recorded in email_record so none is sent twice) and ``mail_templates`` (the
Jinja templates' rendering).

May import: the models, the domain (``notification_policy`` decides what is
owed), the SMTP adapter, the users' services, and the shared helpers at the
package's root. Never an entry point.
"""
