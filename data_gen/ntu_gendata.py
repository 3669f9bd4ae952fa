"""Thin wrapper: `python data_gen/ntu_gendata.py ARGS` == `ssl-skel gendata ntu ARGS`."""

import sys

from ssl_skel.cli import main

if __name__ == "__main__":
    sys.exit(main(["gendata", "ntu", *sys.argv[1:]]))
