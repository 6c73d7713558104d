"""The users' services: accounts and their administration, sign-in and sessions, and the inactivity rule applied.

Owns ``accounts`` (find, list, change and disable a user; who may administer
users), ``sign_in`` (login providers, user_session rows) and
``user_deactivation`` (the 60-day rule run against the database).

May import: the models, the domain, adapters, and the shared helpers at the
package's root (``audit``, ``clock``, ``transactions``, ``sql``). Never an
entry point (the API, the CLI).

An entry point names a user, their status or a role through the names below,
never through the models: these are the types the services hand back.
"""

from ops_api.models import RoleName, User, UserStatus

__all__ = ["RoleName", "User", "UserStatus"]
