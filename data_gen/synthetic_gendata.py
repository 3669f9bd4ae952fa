"""Thin wrapper: `python data_gen/synthetic_gendata.py ARGS` == `ssl-skel gendata synthetic ARGS`."""

import sys

from ssl_skel.cli import main

if __name__ == "__main__":
    sys.exit(main(["gendata", "synthetic", *sys.argv[1:]]))
