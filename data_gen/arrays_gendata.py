"""Thin wrapper: `python data_gen/arrays_gendata.py ARGS` == `ssl-skel gendata arrays ARGS`."""

import sys

from ssl_skel.cli import main

if __name__ == "__main__":
    sys.exit(main(["gendata", "arrays", *sys.argv[1:]]))
