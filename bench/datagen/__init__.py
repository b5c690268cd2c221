"""The benchmark's data generator, in parts: tables and COPY, the database, people, patients, doses and
their records, the audit history. ``bench.generate`` drives them."""
