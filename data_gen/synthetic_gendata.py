"""Generate the built-in synthetic skeleton dataset (NTU-25 layout, xsub/xview splits).

    python data_gen/synthetic_gendata.py --out data/synthetic --seed 0 --clips-per-class 160

Thin wrapper: the logic is in ssl_skel.data.synthetic.
"""

import sys

from ssl_skel.data.synthetic import main

if __name__ == "__main__":
    sys.exit(main())
