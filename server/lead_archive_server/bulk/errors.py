"""What a bulk run says when its options make no job, and the exit codes it ends with."""

from __future__ import annotations

from lead_archive_server.core.errors import OperatorError

EXIT_OK = 0
EXIT_INCOMPLETE = 1  # something was not archived, or the run failed
EXIT_USAGE = 2
EXIT_OFFICE_HOURS = 3
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C


class JobError(OperatorError):
    """The command's options do not make a job; the message says why, in one line."""
