"""The WSGI entry point, as gunicorn loads it."""

import gc
import importlib

import ldn_tracker.wsgi


def test_what_loading_the_app_made_is_kept_out_of_the_collector_s_full_passes() -> None:
    gc.unfreeze()
    try:
        importlib.reload(ldn_tracker.wsgi)  # as a server worker loads it
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
