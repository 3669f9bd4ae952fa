"""NW-UCLA end to end on real recordings: thin wrapper of `python benchmarks/real_data.py --dataset nw_ucla`.

    python benchmarks/nwucla.py --raw ../shared/data/nw_ucla [--seeds 0 1 2] [--budget-minutes 45]

The logic (convert, budgeted pretraining with the validation monitor, linear/KNN-1 per
modality, random init, raw floors, fine-tune, supervised ST-GCN, mean and spread over seeds,
the BENCHMARKS.md section) lives in benchmarks/real_data.py and benchmarks/realdata/.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_data import cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(cli(["--dataset", "nw_ucla", *sys.argv[1:]]))
