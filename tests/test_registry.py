from pathlib import Path

import pytest

from emendo.correctors.registry import build_pipeline
from emendo.errors import ConfigError
from emendo.records import Hypothesis
from emendo.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "dlm-tiny"


def test_names_build_pipelines():
    p = build_pipeline(Settings(correctors="identity,rescorer"))
    assert [c.name for c in p.correctors] == ["identity", "kenlm-rescorer"]
    with pytest.raises(ConfigError, match="unknown corrector 'nope'"):
        build_pipeline(Settings(correctors="nope"))


def test_dlm_uses_the_bundled_model_by_default_and_runs_in_the_pipeline():
    pytest.importorskip("tokenizers")
    (bundled,) = build_pipeline(Settings(correctors="dlm")).correctors
    assert bundled.version.startswith("dlm-release") and bundled.version.endswith("-int8")
    with pytest.raises(ConfigError, match="not an exported denoising LM"):
        build_pipeline(Settings(correctors="dlm", dlm_model="/nonexistent"))
    pipeline = build_pipeline(Settings(correctors="rescorer,dlm", dlm_model=str(FIXTURE)))
    (c,) = pipeline.correct([Hypothesis("x", "the cat sat on the mat")])
    assert [s.corrector for s in c.steps] == ["kenlm-rescorer", "dlm"]
    assert c.corrected == "the cat sat on the mat"  # clean input stays clean
