"""User errors: bad input or configuration, reported as one line with exit status 2."""


class UserError(ValueError):
    """A problem with the user's data or configuration (not a bug in the engine).

    A ValueError, so that callers of the Python API catch it as scikit-learn's users do.

    The message is shown as ``error: <message>`` and must name the file, column, row or
    config key at fault.
    """
