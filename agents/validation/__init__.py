"""The validation agent: every `evo.candidate` through the gauntlet, a `val.report.{id}` back."""
