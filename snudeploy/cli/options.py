"""Options shared by several commands, defined once; progress and output helpers."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path

import click

from .. import arguments
from ..datasets import NAMES

log = logging.getLogger("snudeploy.cli")


def dataset_option(default=None, help="Dataset to use."):
    return click.option("--dataset", type=click.Choice(NAMES), default=default, show_default=default is not None,
                        help=help)


data_option = click.option(
    "--data", type=click.Path(exists=True, path_type=Path), metavar="PATH",
    help="Local data: an .npz (x_train, y_train, x_test, y_test) or a folder of IDX files.")

json_option = click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
    help="Also write the results as JSON to PATH ('-' for stdout).")

checkpoint_argument = click.argument("checkpoint", type=click.Path(path_type=Path), metavar="CHECKPOINT")
model_argument = click.argument("model", type=click.Path(dir_okay=False, path_type=Path), metavar="MODEL.onnx")
digest_option = click.option(
    "--no-digest-check", "check_digest", is_flag=True, flag_value=False, default=True,
    help="Load MODEL.onnx even if its bytes no longer match the digest written at export (a file you edited on "
         "purpose); every other check still applies.")
out_option = click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, metavar="DIR",
                          help="Output folder (created if needed; its previous files stay intact on failure).")


def count(limit: str, minimum: int = 1):
    """A ``click.IntRange`` bounded by ``arguments.LIMITS[limit]``."""
    return click.IntRange(minimum, arguments.LIMITS[limit])


def check_outputs(*outputs: tuple[Path | None, str]) -> None:
    """Fail before the work starts when an output (``(path, "file"|"folder")``) cannot be written."""
    from ..files import check_writable

    for path, kind in outputs:
        if path is not None and str(path) != "-":
            check_writable(path, kind)


def write_json(path: Path | None, payload) -> None:
    if path is None:
        return
    text = json.dumps(payload, indent=2, default=str) + "\n"
    if str(path) == "-":
        click.echo(text, nl=False)
    else:
        from ..files import write_text

        write_text(path, text)


def int_list(ctx, param, value):
    """Parse '250,250' into [250, 250] (click callback)."""
    if value is None:
        return None
    try:
        items = [int(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    limit = arguments.LIMITS["units"]
    if not items or any(not 1 <= v <= limit for v in items):
        raise click.BadParameter(f"expected integers from 1 to {limit}, got {value!r}")
    return items


def progress(label: str, length: int):
    """A progress bar on a terminal; elsewhere one log line at the start and one at the end."""
    if sys.stderr.isatty():
        return click.progressbar(length=length, label=label, file=sys.stderr)
    return _LoggedProgress(label, length)


class _LoggedProgress(contextlib.AbstractContextManager):
    def __init__(self, label: str, length: int):
        self.label, self.length, self.done = label, length, 0

    def __enter__(self):
        log.info("%s: %d to do...", self.label, self.length)
        return self

    def update(self, n: int) -> None:
        self.done += n

    def __exit__(self, *exc):
        if exc[0] is None:
            log.info("%s: %d done.", self.label, self.done)
        return False
