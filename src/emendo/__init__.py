"""emendo: correct the output of speech and handwriting recognizers."""

from emendo.errors import EmendoError, RecordError
from emendo.records import Correction, Hypothesis, TrainingPair, decode_hypothesis, encode

__version__ = "0.1.0"

__all__ = [
    "Correction",
    "EmendoError",
    "Hypothesis",
    "RecordError",
    "TrainingPair",
    "__version__",
    "decode_hypothesis",
    "encode",
]
