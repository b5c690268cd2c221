"""Performance benchmark of the LDN Titration Tracker: data generator, in-process timings and a load test.

Run it with ``python -m bench --help``. It works only on a PostgreSQL database of its own, whose name
starts with ``ldn_bench``; it never touches the application's database.
"""
