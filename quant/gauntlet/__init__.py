"""The honest gauntlet (pure): splits and purge gaps, stage runs, the statistics (deflated Sharpe,
MinBTL, CSCV PBO), the look-ahead truncation check, gates, the readiness score and the report.

`run_gauntlet(strategy, dataset, ...)` does all of it for one strategy; `to_report` turns the
result into the `ValidationReport` published on `val.report.{strategy_id}`.
"""
