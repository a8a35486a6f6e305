"""What every command shares: one-line errors with exit code 2, progress bars on stderr."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

import typer

from evpm.errors import EvpmError

F = TypeVar("F", bound=Callable)


def user_errors(func: F) -> F:
    """Turn a bad-input error into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except EvpmError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def tqdm_progress(label: str, total: int) -> Callable[[int], None]:
    """A progress bar per stage (stderr), closed when it is full."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="step", file=sys.stderr, leave=True)

    def tick(n: int) -> None:
        bar.update(n)
        if bar.n >= bar.total:
            bar.close()

    return tick
