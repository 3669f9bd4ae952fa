"""NW-UCLA end to end on real recordings: thin wrapper of `ssl-skel benchmark --dataset nw_ucla`.

    python benchmarks/nwucla.py --raw ../shared/data/nw_ucla [--seeds 0 1 2] [--budget-minutes 45]

The logic (convert, budgeted pretraining with the validation monitor, linear/KNN-1 per
modality, random init, raw floors, fine-tune, supervised ST-GCN, mean and spread over seeds,
the BENCHMARKS.md section) lives in `ssl_skel.commands.benchmark`.
"""

import sys

from ssl_skel.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "--dataset", "nw_ucla", *sys.argv[1:]]))
