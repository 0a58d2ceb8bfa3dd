"""The README stays true: its settings table and its test command."""

from pathlib import Path

from emendo.settings import settings_table

ROOT = Path(__file__).resolve().parents[1]


def test_settings_table_matches_code():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- settings-table")[1].split("<!-- /settings-table -->")[0]
    table = "\n".join(line for line in block.splitlines() if line.startswith("|"))
    assert table == settings_table()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test   #" in readme
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == "make test"
