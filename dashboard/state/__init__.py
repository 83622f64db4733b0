"""What one browser session keeps between script runs: one typed object per concern.

- ``train.DashboardState`` (key TRAIN_KEY): the table, its schema and the training run;
- ``compare.CompareState`` (key COMPARE_KEY): the comparison's set-up and the live comparison;
- ``lesson.LessonState`` (key LESSON_KEY): the lesson's setup, runs and the learner's guess.

Each object lives in ``st.session_state`` under its key constant from ``session`` and is
reached only through its module's accessor (``get_state``, ``get_compare``,
``get_lesson``), which makes it on the session's first use. Widgets show these objects
and write into them through ``dashboard.widgets.bind``; no view keeps loose session keys.
"""
