"""One root for the runtime's errors, and the exit codes of every command.

    try:
        turn = Turn.load(settings)
    except EdgeError as error:          # the CLI's one `except`: one line, the error's exit code
        print(f"edge: {error}", file=sys.stderr)
        return error.exit_code

Every library error says what went wrong and how to fix it, in one line. The categories say who
can fix it: the operator's settings (`ConfigError`), a missing or broken model (`ModelLoadError`),
bad input from outside (`BadInputError`: a file, a frame, a card), a peer on the network
(`PeerError`: the LLM, a screen, a satellite, Home Assistant), or the data on disk (`StorageError`).
Classes that callers already catch as `ValueError` keep that base too.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What `edge`, `distill` and the bridge's tools return to the shell."""

    OK = 0
    FAILED = 1  # the command ran and something failed (a turn, a delivery, a check)
    BAD_INPUT = 2  # the command line, a settings file or an input file is wrong: fix it and rerun
    UNAVAILABLE = 3  # something the command needs is not there (a model, a device, a peer)


class EdgeError(Exception):
    """Root of the runtime's errors; `str(error)` is one line with the fix."""

    exit_code: ExitCode = ExitCode.FAILED


class ConfigError(EdgeError):
    """A setting, a settings file, a skill's YAML or a profile is wrong."""

    exit_code = ExitCode.BAD_INPUT


class ModelLoadError(EdgeError):
    """A model or voice could not be found or loaded (or failed while running)."""

    exit_code = ExitCode.UNAVAILABLE


class BadInputError(EdgeError):
    """Bytes from outside (a file, a protocol frame, a card, a request) are not what they must be."""

    exit_code = ExitCode.BAD_INPUT


class PeerError(EdgeError):
    """A peer on the network failed, refused, timed out or answered garbage."""


class StorageError(EdgeError):
    """The data on disk cannot be read or written."""
