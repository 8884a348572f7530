"""Root command group: error policy and command registration.

Errors: a :class:`~snudeploy.errors.SnudeployError` (bad input) prints one line on stderr
and exits 2; click usage errors also exit 2; anything else is a bug and exits 1 (set
``SNUDEPLOY_DEBUG=1`` for the traceback). Commands import TensorFlow only in their bodies,
so ``snudeploy --help`` is instant.
"""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..errors import SnudeployError


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except SnudeployError as e:
            click.echo(f"Error: {e}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except Exception as e:
            if os.environ.get("SNUDEPLOY_DEBUG"):
                raise
            click.echo(f"Unexpected error ({type(e).__name__}): {e}  [SNUDEPLOY_DEBUG=1 shows the traceback]",
                       err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="snudeploy")
def cli():
    """Spiking Neural Unit networks: train in TensorFlow, export to ONNX, stream on ONNX Runtime.

    Typical flow: train -> export (and quantize) -> run / bench. `snudeploy quickstart`
    does all of it on the offline digits data.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any TensorFlow import


def _register():
    from .bench import bench
    from .export import export
    from .inspect_cmd import inspect
    from .quantize import quantize
    from .quickstart import quickstart
    from .run import run
    from .train import train

    for command in (quickstart, train, quantize, export, inspect, run, bench):
        cli.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli())
