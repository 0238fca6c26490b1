"""The seed's loop vs torchprimer vs the compute floor: `torchprimer bench` as a script.

    .venv/bin/python bench/speed.py                       # defaults: batch 64, 1 epoch, 3 repeats
    .venv/bin/python bench/speed.py --batch-size 512 --json

Every option of `torchprimer bench --help` works here; the code is torchprimer.bench.
"""

from __future__ import annotations

import sys

from torchprimer.cli import main

if __name__ == "__main__":
    main(["bench", *sys.argv[1:]])
