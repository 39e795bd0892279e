"""Logging for agents and the CLI: loguru, human-readable on stderr, JSON lines in a file.

Every record passes through a masker that replaces known secret values with ********, so a key
pasted into an exception message still never reaches a log.
"""

from __future__ import annotations

import sys
from pathlib import Path

from loguru import logger

from settings import mask


def setup_logging(
    agent: str,
    *,
    level: str = "INFO",
    log_dir: Path | None = None,
    secrets: list[str] | None = None,
) -> None:
    secret_values = [s for s in (secrets or []) if s]

    def patch(record) -> None:
        if secret_values:
            record["message"] = mask(record["message"], secret_values)
            if record["exception"] is not None:
                exc = record["exception"]
                if exc.value is not None:
                    exc.value.args = tuple(
                        mask(a, secret_values) if isinstance(a, str) else a for a in exc.value.args
                    )
        record["extra"].setdefault("agent", agent)

    logger.remove()
    logger.configure(patcher=patch, extra={"agent": agent})
    logger.add(
        sys.stderr,
        level=level,
        format="<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
        "<cyan>{extra[agent]}</cyan> {message}",
        backtrace=False,
        diagnose=False,  # diagnose prints local variables: they may hold secrets
    )
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        logger.add(
            log_dir / f"{agent}.jsonl",
            level=level,
            serialize=True,
            rotation="50 MB",
            retention=5,
            backtrace=False,
            diagnose=False,
            enqueue=False,
        )
