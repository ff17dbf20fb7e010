"""Benchmark v3: suites with resolution and variety, a stream suite, and the gates measured on
selection members before any protocol is frozen (issue 26; the protocol and the headline are
part 2).

* :mod:`agents.bench.v3.candidates`: what the references search on top of v2's static grid and
  fixed schedules: rate changes at every step of a stream's change window, schedules that freeze
  the child from the window's start (reported apart), and the family of closed-loop rules.
* :mod:`agents.bench.v3.gates`: the selection stage of a v3 suite (choices on validation at one
  seed, scores on test at others) and its ``headroom.csv``.

v3 never imports v1 (:mod:`agents.bench.protocol`).
"""
