"""Archive or restore many leads with one command: the layer between `runtime` and `cli`.

``options`` turns the command line (and the nightly job's settings) into one frozen
``BulkOptions``; ``selection`` reads which leads to take; ``archiver`` sends them through the
API, several batches in flight; ``run`` is the one operation the commands call, opening the
database, the replica and the client; ``console`` is what the operator sees.

Every change to leads goes through the API, so the service's rules (keys, office hours,
compare before delete) always hold. The database is read directly to choose, count and
survey leads; the one statement the layer runs itself is OPTIMIZE TABLE, with --optimize.
"""
