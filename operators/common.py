"""Shared bits of the operators: turning project errors into one-line reports."""

from __future__ import annotations

import functools
from collections.abc import Callable

import bpy

from ..engine.errors import MonocapError


def reports_errors(method: Callable) -> Callable:
    """Wrap execute/invoke: a MonocapError becomes self.report({'ERROR'}, msg) and CANCELLED."""

    @functools.wraps(method)
    def wrapper(self: bpy.types.Operator, context: bpy.types.Context, *args):
        try:
            return method(self, context, *args)
        except MonocapError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
    return wrapper
