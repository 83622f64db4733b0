"""Training off the dashboard server's interpreter: a pool of worker processes, each hosting the
runs of several browser sessions and stepping the playing ones in turn.

- ``live.LiveRun``: one session's run as a worker holds it -- the Trainer, its diagnostics
  window, the evaluations every EVALUATE_EVERY_STEPS steps, and what was trained since the page
  last fetched it (compact per-step rows, the latest step's record);
- ``live_comparison.LiveComparison``, ``live_race.LiveRace``: one session's comparison, or its
  "Fix it" race, as a worker holds it -- trained while its page keeps asking for views;
- ``worker.serve``: a worker process's loop -- commands from the server, and between them a
  slice of training for each playing run and shown comparison or race, round-robin;
- ``pool.TrainingPool``: the processes (started with the "forkserver" method, never forked from
  the threaded server), placement on the least-loaded one, the limit on training sessions, idle
  sessions released, a dead worker restarted;
- ``remote.RemoteTrainer``: what a session holds -- the subset of the Trainer API the dashboard
  uses, its attributes mirrored from the facts each reply carries, a dead worker's run rebuilt
  from its last checkpoint;
- ``remote_comparison.RemoteComparison``, ``remote_race.RemoteRace``: what a session holds of
  its comparison or race -- what the views read, from the last view a reply carried.
"""
