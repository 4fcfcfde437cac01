"""Exceptions that mean "the input is wrong", as opposed to a bug.

The command line turns an :class:`InputError` into one line on stderr and exit
status 2; everything else is a bug and keeps its traceback.  Library callers can
catch it as a ``ValueError``.
"""


class InputError(ValueError):
    """Bad user input: an out-of-range parameter, an unreadable or foreign file.

    The message names the offending value and, where possible, what to change.
    """

