"""The blocking form of a coroutine function, for callers outside an event loop.

Written here because :func:`asyncio.run` alone fails inside a running loop (a Jupyter cell) with a message
that does not say which call to await instead; :func:`blocking` names it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["blocking"]

P = ParamSpec("P")
T = TypeVar("T")


def blocking(coro_fn: Callable[P, Coroutine[Any, Any, T]], *, name: str, doc: str) -> Callable[P, T]:
    """A function that runs ``coro_fn(*args, **kwargs)`` to completion in an event loop of its own.

    Args:
        coro_fn: The coroutine function (its signature is kept).
        name: The blocking function's ``__name__``.
        doc: Its docstring (the arguments are ``coro_fn``'s).

    Returns:
        The blocking function; called from inside a running event loop it raises ``RuntimeError``
        naming ``coro_fn`` to ``await`` instead.
    """

    @functools.wraps(coro_fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro_fn(*args, **kwargs))
        raise RuntimeError(f"{name} was called from a running event loop (e.g. a Jupyter cell): use "
                           f"`await {coro_fn.__name__}(...)` there")

    run.__name__ = run.__qualname__ = name
    run.__doc__ = doc  # __wrapped__ stays: inspect.signature shows coro_fn's arguments
    return run
