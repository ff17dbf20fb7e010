"""Benchmark v3: suites with resolution and variety, a stream suite, and the gates measured on
selection members before the protocol was frozen (issue 26); the primary analysis, the runner and the
ledger protocol 3.0 registers (issue 27).

* [`agents.bench.v3.candidates`][]: what the references search on top of v2's static grid and
  fixed schedules: rate changes at every step of a stream's change window, schedules that freeze
  the child from the window's start (reported apart), and the family of closed-loop rules.
* [`agents.bench.v3.gates`][]: the selection stage of a v3 suite (choices on validation at some
  seeds, scores on test at others) and its ``headroom.csv``.
* [`agents.bench.v3.analysis`][]: the one primary analysis (a crossed bootstrap over members and
  meta-training seeds, max-|T| simultaneous intervals, adjusted p-values, four verdicts), with
  [`agents.bench.v3.power`][] (sizing a test split) and [`agents.bench.v3.bootstrap`][] (what
  they share).
* [`agents.bench.v3.statistics`][]: the protocol's ``[statistics]`` and ``[family]`` tables (the
  registered analysis, checked against the procedure the code runs).
* [`agents.bench.v3.ledger`][]: the append-only ledger with a ``start`` and an ``end`` row per run.
* [`agents.bench.v3.budgets`][]: the protocol's ``[budgets]`` and whether it is frozen;
  [`agents.bench.v3.methods`][]: the family's methods, each member with its own env arguments;
  [`agents.bench.v3.runner`][]: ``hptune bench --v3`` (every method on one split, the analysis, the ledger);
  [`agents.bench.v3.headline`][]: a suite's test and transfer runs and its oracles on test in one folder.
* [`agents.bench.v3.dev_runs`][]: ``hptune train`` runs on dev members read as one learned method's scores.
* [`agents.bench.v3.shipped`][]: what the selection stage chose, and the protocol, as package data (what
  ``hptune train --task v3/...`` compares with).

v3 never imports v1 ([`agents.bench.v1`][]).
"""
