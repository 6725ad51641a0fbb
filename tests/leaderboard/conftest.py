"""Records of the digits protocol as the leaderboard tests share them."""

import pytest

from harness.protocol import load_protocol
from harness.results import write_record

DIGITS = load_protocol("digits_mnist_optdigits")
DIGIT_CLASSES = [str(i) for i in range(10)]


@pytest.fixture
def digits_runs(make_record):
    """Write three seeds of source_only (``accs``) and one oracle run into ``directory``."""

    def write(directory, accs=(70.0, 72.0, 77.0), oracle=99.0):
        for seed, acc in enumerate(accs):
            write_record(make_record(seed, acc, protocol_hash=DIGITS.hash, method="source_only",
                                     classes=DIGIT_CLASSES), directory)
        write_record(make_record(0, oracle, protocol_hash=DIGITS.hash, method="oracle",
                                 uses_target_labels=True, classes=DIGIT_CLASSES), directory)

    return write
