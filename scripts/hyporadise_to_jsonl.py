#!/usr/bin/env python3
"""Convert HyPoradise JSON files to emendo JSONL records (see emendo.eval.hyporadise).

    python scripts/hyporadise_to_jsonl.py test_ls_clean.json -o test_ls_clean.jsonl [--limit N]
"""

import sys

from emendo.eval.hyporadise import main

if __name__ == "__main__":
    sys.exit(main())
