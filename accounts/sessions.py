"""Django's database sessions, with the end-of-request update as one statement.

Django saves a changed session inside ``transaction.atomic()``, which matters when the save runs inside a
caller's transaction (a failed write must not break it) or creates the row (a key collision is retried).
At the end of a request neither holds: the request's own transaction is over, and the row exists, so the
update is a single ``UPDATE``, atomic by itself. Saved that way it costs one statement instead of three
(BEGIN, UPDATE, COMMIT). Every other save — a new session, a new key, a save inside a transaction — is
Django's own.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import DatabaseError, connections, router


class SessionStore(DatabaseSessionStore):
    def save(self, must_create: bool = False) -> None:
        if must_create or self.session_key is None:
            super().save(must_create)
            return
        obj = self.create_model_instance(self._get_session())  # type: ignore[attr-defined]  # private, unstubbed
        using = router.db_for_write(self.model, instance=obj)
        if connections[using].in_atomic_block:
            super().save(must_create)
            return
        try:
            obj.save(force_update=True, using=using)
        except DatabaseError as exc:
            # The row is gone (the session ended meanwhile): as Django's store does.
            raise UpdateError from exc
