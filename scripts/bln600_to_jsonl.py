#!/usr/bin/env python3
"""Convert the BLN600 CSV to emendo JSONL records (see emendo.eval.bln600).

    python scripts/bln600_to_jsonl.py train.csv -o bln600_train.jsonl [--limit N]
"""

import sys

from emendo.eval.bln600 import main

if __name__ == "__main__":
    sys.exit(main())
