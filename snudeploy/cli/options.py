"""Options shared by several commands, defined once."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..datasets import NAMES


def dataset_option(required=False, default=None, help="Dataset to use."):
    return click.option("--dataset", type=click.Choice(NAMES), required=required, default=default,
                        show_default=default is not None, help=help)


data_option = click.option(
    "--data", type=click.Path(exists=True, path_type=Path), metavar="PATH",
    help="Local data: an .npz (x_train, y_train, x_test, y_test) or a folder of IDX files.")

json_option = click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
    help="Also write the results as JSON to PATH ('-' for stdout).")


def write_json(path: Path | None, payload) -> None:
    if path is None:
        return
    text = json.dumps(payload, indent=2, default=str) + "\n"
    if str(path) == "-":
        click.echo(text, nl=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def int_list(ctx, param, value):
    """Parse '250,250' into [250, 250] (click callback)."""
    if value is None:
        return None
    try:
        items = [int(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not items or any(v < 1 for v in items):
        raise click.BadParameter(f"expected positive integers, got {value!r}")
    return items
