"""What every ``knbc`` command shares: the Typer app and how a user error is shown (one red line, exit 2)."""

from __future__ import annotations

from contextlib import contextmanager

import typer

from pipeline.errors import KnbcError


app = typer.Typer(help="knbc-pipeline: GiNZA + recurrent networks on the KNB blog corpus.", no_args_is_help=True)


@contextmanager
def user_errors(*kinds: type[Exception]):
    """Turn this package's errors (and ``kinds``) into a red message and exit status 2, not a traceback."""
    try:
        yield
    except (KnbcError, *kinds) as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
