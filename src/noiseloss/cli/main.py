"""The ``noiseloss`` command: a thin shell over the Python API.

Subcommands live one per module and are imported only when invoked, so ``noiseloss --help``
stays fast and never imports torch.
"""

from __future__ import annotations

import importlib
import sys

import click

from noiseloss.errors import NoiselossError

# name -> "module:attribute" of a click command
COMMANDS = {
    "score": "noiseloss.cli.score:score",
    "models": "noiseloss.cli.score:models",
    "analyze": "noiseloss.cli.analyze:analyze",
    "perturb": "noiseloss.cli.perturb:perturb",
    "demo-model": "noiseloss.cli.demo:demo_model",
    "run": "noiseloss.cli.run:run",
    "configs": "noiseloss.cli.run:configs",
    "report": "noiseloss.cli.report:report",
    "profile": "noiseloss.cli.profile:profile",
    "correlate": "noiseloss.cli.profile:correlate",
    "audit": "noiseloss.cli.audit:audit",
}


class LazyGroup(click.Group):
    """Resolve subcommands on demand."""

    def list_commands(self, ctx):
        """All subcommand names (nothing is imported)."""
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        """Import and return one subcommand."""
        if name not in COMMANDS:
            return None
        module, _, attr = COMMANDS[name].partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="noiseloss")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Import MODULE first: a plugin that registers models, perturbations, "
                   "detectors or metrics (repeatable; installed plugins load by themselves).")
def cli(plugins):
    """Likelihood-profile evaluation of music language models."""
    from noiseloss.plugins import load_plugins

    load_plugins(plugins)


#: Optional dependencies: top-level module -> how to install it.
EXTRAS = {
    "torch": "pip install torch (the CPU or CUDA build you need)",
    **dict.fromkeys(("pretty_midi", "mido", "music21", "pyloudnorm"),
                    "pip install 'noiseloss[perturb]'"),
    **dict.fromkeys(("matplotlib", "jinja2"), "pip install 'noiseloss[report]'"),
    "ray": "pip install 'noiseloss[ray]'",
}


def main(argv=None) -> int:
    """Entry point: run the CLI, turning library errors into one line and exit code 2.

    A missing optional dependency names the extra that installs it (exit 2); Ctrl-C exits 130
    (the shell's code for SIGINT; 1 means some items failed).
    """
    try:
        code = cli.main(args=argv, prog_name="noiseloss", standalone_mode=False)
    except NoiselossError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        return 2
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if top not in EXTRAS:
            raise
        click.secho(f"error: this command needs {top}, which is not installed: {EXTRAS[top]}",
                    fg="red", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        click.echo("aborted", err=True)
        interrupted = isinstance(exc, KeyboardInterrupt) or isinstance(exc.__cause__,
                                                                       KeyboardInterrupt)
        return 130 if interrupted else 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
