"""Log lines for the systemd journal: a syslog priority prefix (`<6>`) journald turns into the
entry's PRIORITY, the logger's name, one line per record.

    edge run --log-format journal -v      # what the service unit runs

`edge.turns` lines are the turn trace as one JSON object (route, skill, stages_ms…), so
`journalctl -u edge -o cat | grep '^edge.turns: '` gives one JSON line per turn.
"""

from __future__ import annotations

import logging

# logging level -> syslog priority (journald reads "<N>" at the start of a line on stdout/stderr)
PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def priority(levelno: int) -> int:
    return next((value for level, value in PRIORITIES if levelno >= level), 7)


class JournalFormatter(logging.Formatter):
    """`<priority>logger: message`, with a traceback folded onto the same line."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            text += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        return f"<{priority(record.levelno)}>{text}"
