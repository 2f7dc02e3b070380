"""The errors that are the user's to fix, as opposed to bugs: one base class for the whole project.

A `UserError` names what was given (a config field, a file, a folder) and what is wrong with it.
Every command of the project prints one as a single `error: ...` message and exits with status
2, where any other exception is a bug and keeps its traceback. It lives here, in the lowest
layer, so that the data pipeline's own errors (bad input, an existing synthetic dataset) are
user errors too; famipose_jax.errors re-exports it with the library's own subclasses.
"""


class UserError(Exception):
  """Something the user gave is wrong or missing; the message says what and how to fix it."""


class ConfigError(UserError, ValueError):
  """A config field that does not exist, is missing, or holds an invalid value."""


class InvalidInputError(UserError, ValueError):
  """A value the user passed (a box, a frame, a setting) that cannot be used; the message says
  which and why."""


class UsageError(UserError):
  """A command-line argument that cannot be used (the message names it)."""


class MissingInputError(UserError, FileNotFoundError):
  """A file or folder the user named (or a config points at) is not there."""


class RefusedOverwriteError(UserError, FileExistsError):
  """An output the user named exists: nothing of theirs is overwritten."""
