"""Evaluation workers: `organism agent evaluator` answers `eval.batch` requests in a queue group."""
