"""Reading finished runs: curves, statistics, plots, reports, summaries, exports and `sealign compare`."""
