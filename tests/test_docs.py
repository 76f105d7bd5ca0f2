"""The documentation's commands are real: every concrete ``eqspike …`` line in a code block
of README.md or docs/*.md parses with the command line's own parser, names networks that
exist and repository files that exist (a syntax summary, with [options] or alternatives,
is skipped); the README's test and documentation commands are what CI runs."""

from __future__ import annotations

import re
import shlex

import pytest

from eqspike.cli import _parser
from eqspike.errors import UsageError
from eqspike.spec import available_networks

from .conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands():
    found = []
    for page in PAGES:
        text = page.read_text()
        for block in re.findall(r"```(?:bash|sh|)\n(.*?)```", text, flags=re.S):
            for line in block.splitlines():
                command = line.split("  #")[0].strip()
                if not command.startswith("eqspike ") or re.search(r"[\[\]|…]|\.\.\.", command):
                    continue
                found.append((page.name, command))
    return found


COMMANDS = _commands()


def test_the_pages_show_commands():
    assert len(COMMANDS) >= 15
    assert {page for page, _ in COMMANDS} >= {"README.md", "getting-started.md"}


@pytest.mark.parametrize("page, command", COMMANDS, ids=[c for _, c in COMMANDS])
def test_a_documented_command_parses_and_names_what_exists(page, command):
    argv = shlex.split(command)[1:]
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit:                      # --help, --version: 0
        assert exit.code == 0, f"{page}: {command!r} does not parse (exit {exit.code})"
        return
    except UsageError as error:
        pytest.fail(f"{page}: {command!r} does not parse: {error}")
    network = getattr(args, "network", None)
    if network and not network.endswith(".toml"):
        assert network in available_networks(), f"{page}: no network {network!r}"
    for word in argv:
        if re.match(r"(sweeps|networks|benchmarks|analysis)/", word):
            assert (ROOT / word).exists(), f"{page}: {word} does not exist"


def test_the_readme_test_and_docs_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text().splitlines()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    tests = next(line for line in readme
                 if line.startswith("python3 -m venv") and "pytest" in line)
    docs = next(line for line in readme if "sphinx-build" in line)
    assert tests in ci and docs in ci
