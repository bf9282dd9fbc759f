"""Run several `justlink` commands in one process of their own, each exactly as the command line runs it
(click's runner over the same `cli`), so that a journey of many commands pays Python's start and the
hub's imports once. Reads a JSON list of {"args": [...], "stdin": "..."|null} on stdin and prints a JSON
list of {"exit_code", "stdout", "stderr"}. The environment (JUSTLINK_DATA_DIR, ...) is the process's."""

from __future__ import annotations

import json
import os
import sys

from click.testing import CliRunner

from hub.cli.main import cli


def main() -> None:
    os.umask(0o077)
    commands = json.load(sys.stdin)
    runner = CliRunner()
    results = []
    for command in commands:
        result = runner.invoke(cli, command["args"], input=command.get("stdin"), prog_name="justlink")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        results.append({"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr})
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
