"""The ``perfjam`` command: no subcommand opens the app; subcommands for headless work.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their subcommand runs, so
``perfjam generate`` never loads Qt and ``perfjam`` never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "app": ("perfjam.gui.app", "open the PerfJam window (the default)"),
    "jam": ("perfjam.jam", "run the live engine headless: MIDI in -> model -> synth / MIDI out"),
    "generate": ("perfjam.generate", "generate performances to MIDI (and WAV) files"),
    "recover": ("perfjam.recovery", "rebuild recordings interrupted by a crash from their journals"),
    "ports": ("perfjam.midi_io", "list MIDI input and output ports"),
    "install-desktop": ("perfjam.desktop", "add PerfJam to the desktop's menu (--uninstall removes it)"),
}
VERSION_FLAGS = ("-V", "--version")


class _PrintVersion(argparse.Action):
    """``perfjam --version``: the lines of ``perfjam.about`` (what a bug report needs)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from perfjam.about import version_lines

        print("\n".join(version_lines()))
        parser.exit()


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perfjam", description="Play piano with a neural network.")
    parser.add_argument(*VERSION_FLAGS, action=_PrintVersion, nargs=0,
                        help="print the versions of PerfJam and its libraries, and the model it plays")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Only the chosen subcommand's module is imported (its arguments are added lazily).
        if argv and argv[0] == name:
            importlib.import_module(module_name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", *VERSION_FLAGS):
        argv = ["app", *argv]
    args = build_parser(argv).parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C where a command does not handle it itself: no traceback
        print(f"\nperfjam {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
