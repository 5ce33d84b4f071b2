"""The README's promises that can be checked mechanically."""

from __future__ import annotations

import re
from pathlib import Path

from shared.config import settings_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_configuration_table_is_current():
    assert settings_table() in README, "regenerate with `python -m shared.config` and paste into README.md"


def test_make_targets_named_in_readme_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"`make ([a-z\-]+)`", README)):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_benchmark_scripts_listed_exist():
    for script in re.findall(r"`(benchmarks/[a-z_]+\.py)`", README):
        assert (ROOT / script).is_file(), script
