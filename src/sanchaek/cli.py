"""``sanchaek`` command line: one command per stage, each a thin shell over the stage's pure core.

Commands are imported lazily so that ``sanchaek crawl --help`` does not pay for torch or the JVM.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from .errors import SanchaekError

# command name -> "module:attribute" of a click command
COMMANDS: dict[str, str] = {
    "crawl": "sanchaek.crawl.stage:command",
    "preprocess": "sanchaek.preprocess:command",
    "index": "sanchaek.index:command",
    "analyze": "sanchaek.index:analyze_command",
    "embed": "sanchaek.embed:command",
    "query": "sanchaek.query:command",
    "themes": "sanchaek.themes:group",
    "train": "sanchaek.launch:command",  # one process here, or N under Accelerate/torchrun
    "merge": "sanchaek.train:merge_command",
    "sweep": "sanchaek.sweep:command",
    "evaluate": "sanchaek.evaluate:command",
    "align": "sanchaek.align:command",
    "generate": "sanchaek.generate:command",
    "write": "sanchaek.generate:write_command",
    "compose": "sanchaek.compose:command",
    "ratings": "sanchaek.ratings:group",
    "promote": "sanchaek.ratings:promote_command",
}

HELP = {
    "crawl": "Collect raw documents (offline corpus by default; polite site crawlers).",
    "preprocess": "KLUE-style cleaning, PII removal, filters, dedup, passages.",
    "index": "Analyse passages with Nori into the search backend.",
    "analyze": "Show Nori tokens (term, part of speech, offsets) for a text.",
    "embed": "Embed passages for semantic theme retrieval (resumable).",
    "query": "Select training passages by theme words.",
    "themes": "Theme tools: `themes suggest WORD` lists candidate paraphrases.",
    "train": "Fine-tune or train the causal LM with Accelerate (train.num_processes processes).",
    "merge": "Write a LoRA adapter merged into its base model (models/lm/merged/).",
    "sweep": "Run a hyper-parameter grid and rank runs by early-curve speed.",
    "evaluate": "LM metrics and KLUE relation extraction micro-F1 / AUPRC.",
    "align": "Preference tuning (DPO) of the trained model on the rated pairs.",
    "generate": "Sample texts for the theme prompts, with quality proxies.",
    "write": "Stream a continuation of a prompt to the terminal.",
    "compose": "Compose the walking novel (산책소설) beat by beat.",
    "ratings": "Human ratings: export aggregates and preference pairs.",
    "promote": "Make an experiment's model the one generate/compose use.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("sanchaek"):
                raise SanchaekError(
                    f"stage '{cmd_name}' is not available in this build ({exc.name} missing)"
                ) from exc
            raise SanchaekError(
                f"stage '{cmd_name}' needs the Python package '{exc.name}': run `make setup`"
            ) from exc
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every stage.
        with formatter.section("Commands"):
            formatter.write_dl([(name, HELP.get(name, "")) for name in COMMANDS])


def params_option(func):
    """``--params`` option shared by every stage command."""
    return click.option(
        "--params",
        "params_path",
        default="params.yaml",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="params file to read (every knob of every stage lives there).",
    )(func)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="sanchaek")
def cli(verbose: int) -> None:
    """산책 — tune a Korean LM for literary writing and compose a walking novel."""
    level = logging.WARNING - 10 * min(verbose + 1, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except SanchaekError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
