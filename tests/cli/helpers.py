"""What the CLI tests share: the one-line error check."""

from __future__ import annotations


def one_line_error(result, text: str) -> None:
    """A CliRunner result that is exit code 2 and one `error:` line containing `text`."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], result.output
    assert "Traceback" not in result.output
