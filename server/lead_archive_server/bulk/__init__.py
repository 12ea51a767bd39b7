"""Archive or restore many leads with one command: the layer between `runtime` and `cli`.

Its modules, each importing only those before it:

- ``errors``: JobError (options that make no job) and the exit codes;
- ``values``: text the operator typed, read into days, names and lead IDs;
- ``selection``: which leads (the Selection, its SQL) and every read of them: pages of
  selected leads, listed IDs, the dry run's survey;
- ``job``: one run, what it takes and how it sends it;
- ``options``: the command line, declared once for `archive` and `restore`, and parsed once
  (with the settings, for the nightly job) into a frozen BulkOptions;
- ``archiver``: batches in flight through the API, the tally, pacing;
- ``replica``: how far behind a replica is;
- ``console``: what the operator sees (progress, summary);
- ``run``: the one operation the commands call; it opens the database, the replica and the
  API client.

Every change to leads goes through the API, so the service's rules (keys, office hours,
compare before delete) always hold. The database is read directly to choose, count and
survey leads; the one statement the layer runs itself is OPTIMIZE TABLE, with --optimize.
"""
