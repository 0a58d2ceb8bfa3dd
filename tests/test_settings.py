import pytest

from emendo.errors import ConfigError
from emendo.settings import SETTINGS_DOC, Settings, settings_table


def test_defaults_and_env():
    s = Settings.from_env({"EMENDO_BROKER": "kafka://h1:1,h2:2", "EMENDO_BATCH_SIZE": "8",
                           "EMENDO_BATCH_WITHIN": "0.2", "EMENDO_CORRECTORS": "identity, rescorer"})
    assert s.bootstrap_servers == "h1:1,h2:2"
    assert s.faust_broker == "kafka://h1:1;kafka://h2:2"
    assert (s.batch_size, s.batch_within) == (8, 0.2)
    assert s.corrector_names == ("identity", "rescorer")
    assert s.output_topic == {"asr": "emendo.asr.corrections", "htr": "emendo.htr.corrections"}


@pytest.mark.parametrize(("var", "value", "words"), [
    ("EMENDO_BATCH_SIZE", "x", "not a valid int"),
    ("EMENDO_BATCH_SIZE", "0", ">= 1"),
    ("EMENDO_BATCH_WITHIN", "-1", "BATCH_WITHIN"),
    ("EMENDO_CORRECTORS", " , ", "names no corrector"),
    ("EMENDO_DANCER_THRESHOLDS", "0.7,x", "DANCER_THRESHOLDS"),
    ("EMENDO_DANCER_THRESHOLDS", "1.5", "DANCER_THRESHOLDS"),
    ("EMENDO_DANCER_THRESHOLDS", "0.5,0.6,0.7", "DANCER_THRESHOLDS"),
    ("EMENDO_DANCER_THREADS", "0", "DANCER_THREADS must be >= 1"),
    ("EMENDO_DANCER_CONTEXT_READS", "-1", "CONTEXT_READS must be a whole number"),
    ("EMENDO_DANCER_CONTEXT_READS", "three", "CONTEXT_READS must be a whole number"),
])
def test_bad_values(var, value, words):
    with pytest.raises(ConfigError, match=words):
        Settings.from_env({var: value})


def test_table_documents_every_setting():
    table = settings_table()
    assert set(SETTINGS_DOC) == set(Settings.__dataclass_fields__)
    for var, _ in SETTINGS_DOC.values():
        assert f"`{var}`" in table


def test_dancer_context_reads():
    assert Settings.from_env({}).dancer_context_reads_value is None
    assert Settings.from_env({"EMENDO_DANCER_CONTEXT_READS": "0"}).dancer_context_reads_value == 0
    assert Settings.from_env({"EMENDO_DANCER_CONTEXT_READS": " 2 "}).dancer_context_reads_value == 2


def test_dancer_thresholds():
    assert Settings.from_env({}).dancer_threshold_values == (None, None)
    assert Settings.from_env({"EMENDO_DANCER_THRESHOLDS": "0.7"}).dancer_threshold_values == (0.7, None)
    assert Settings.from_env({"EMENDO_DANCER_THRESHOLDS": " 0.6, 0.8 "}).dancer_threshold_values == (0.6, 0.8)
