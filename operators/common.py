"""Shared bits of the operators: turning project errors into one-line reports."""

from __future__ import annotations

import functools
from collections.abc import Callable

import bpy

from ..engine.errors import MonocapError


def reports_errors(method: Callable) -> Callable:
    """Wrap execute/invoke: a MonocapError becomes self.report({'ERROR'}, msg) and CANCELLED; so does an
    OSError (a file the operator reads or writes: missing, unreadable, a full disk), as one line with its path.

    Blender checks the argument count of execute (2) and invoke (3), so the wrapper keeps it.
    """

    def run(self: bpy.types.Operator, *args) -> set[str]:
        try:
            return method(self, *args)
        except MonocapError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            self.report({"ERROR"}, f"{exc.strerror or exc}{where}")
            return {"CANCELLED"}

    if method.__code__.co_argcount == 3:
        @functools.wraps(method)
        def invoke(self: bpy.types.Operator, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
            return run(self, context, event)
        return invoke

    @functools.wraps(method)
    def execute(self: bpy.types.Operator, context: bpy.types.Context) -> set[str]:
        return run(self, context)
    return execute
