"""Production settings served over plain HTTP on the loopback interface, for the benchmark only.

Everything is as in production (``DEBUG=0``, hashed static files, PBKDF2 passwords, sessions in the
database, the full middleware stack) except what needs HTTPS: the benchmark talks plain HTTP to
127.0.0.1, so cookies are not marked secure and nothing redirects to HTTPS.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from ldn_tracker.settings import *  # noqa: F403

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SESSION_COOKIE_NAME = "sessionid"
CSRF_COOKIE_NAME = "csrftoken"
STATIC_ROOT = Path(os.environ.get("BENCH_STATIC_ROOT", Path(tempfile.gettempdir()) / "ldn-bench-staticfiles"))
