"""The project's exception types. The CLI and the Blender operators turn them into one-line reports."""


class MonocapError(Exception):
    """Base class: a problem a user can act on. The message is one line, shown as is."""

    kind = "error"


class BadInput(MonocapError):
    """The input is missing, unreadable or unusable (no video, no person, bad arguments)."""

    kind = "bad_input"


class FormatError(MonocapError):
    """A file is damaged or not in the expected format (VMD, PMX, BVH, take). Say where."""

    kind = "format_error"


class ModelError(MonocapError):
    """Model files are missing or could not be fetched or verified."""

    kind = "model_error"
