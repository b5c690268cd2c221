"""End every session of an account the moment it is deactivated.

Django already treats a deactivated user as signed out (the backend refuses inactive users), but their
session rows stay; reactivating the account would bring those sessions back to life, on whatever
workstation or stolen cookie still holds them. So when a user is saved with ``is_active`` False — in the
admin, a command or anywhere else that saves the user — every session signed in as that user is deleted.

Sessions live in the database (``django.contrib.sessions``). The user id is inside each session's signed
data, not in a column, so the live sessions are read and decoded: they end after 30 minutes idle, so
there are about as many as there are clinicians signed in now, and deactivations are rare. This holds
however often a session key has changed since sign-in (sign-in, two-factor), which keys recorded at sign-in
would not. Each session is deleted through the session engine, so a ``cached_db`` cache forgets it too.
(A queryset ``update(is_active=False)`` bypasses ``save()``; call ``sessions_end`` after one.)
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from . import security_log


def _session_store_class() -> type[DatabaseSessionStore]:
    store: type[DatabaseSessionStore] = import_module(settings.SESSION_ENGINE).SessionStore
    return store


def sessions_end(*, user_id: Any) -> int:
    """Delete every unexpired session signed in as ``user_id``; returns how many."""
    store_class = _session_store_class()
    wanted = str(user_id)
    live = store_class.get_model_class().objects.filter(expire_date__gt=timezone.now())
    # get_decoded() gives {} for data that does not verify, so a tampered row matches nobody.
    keys = [
        session.session_key
        for session in live.iterator(chunk_size=500)
        if str(session.get_decoded().get(SESSION_KEY, "")) == wanted
    ]
    for key in keys:
        store_class(session_key=key).delete()
    return len(keys)


@receiver(post_save, sender=get_user_model())
def _end_sessions_of_a_deactivated_user(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if created or instance.is_active or (update_fields is not None and "is_active" not in update_fields):
        return
    ended = sessions_end(user_id=instance.pk)
    if ended:
        security_log.log_event(
            security_log.SESSIONS_ENDED, None, username=instance.get_username(), level=logging.INFO, count=ended
        )
