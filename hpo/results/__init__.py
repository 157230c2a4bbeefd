"""Reading results back out of a study: leaderboard, summaries, best config."""

from __future__ import annotations

from hpo.results._leaderboard import Row, StudySummary, best_config, leaderboard, summarize

__all__ = ["Row", "StudySummary", "best_config", "leaderboard", "summarize"]
