"""``emendo synth fit-simulator``: fit the text-level error simulator on real pair directories.

See :mod:`emendo.synth.simulator` for the model and :mod:`emendo.synth.simulate` for the driver.
"""

from emendo.synth.simulate import add_fit_arguments as add_arguments
from emendo.synth.simulate import run_fit as run

__all__ = ["add_arguments", "run"]
