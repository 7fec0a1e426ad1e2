"""Our packages' log records reach the replica's log file, at the configured level.

Serve gives each replica a log file through the ``ray.serve`` logger's handlers and stops that
logger from propagating, while ``api.*`` loggers propagate to a root logger with no handler: their
records (a catalog follower's failures among them) reached nothing an SRE could read. Attaching
Serve's handlers to our top-level loggers puts them in the same file, with the replica's tags.
"""

from __future__ import annotations

import logging

SERVE_LOGGER = "ray.serve"
APP_LOGGERS = ("core", "api", "actors", "media")


def route_app_logs(level: str) -> None:
    """Idempotent: safe to call on every ``reconfigure``."""
    handlers = logging.getLogger(SERVE_LOGGER).handlers
    for name in APP_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = False  # the root logger has no handler in a replica
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
