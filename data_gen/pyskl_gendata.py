"""Thin wrapper: `python data_gen/pyskl_gendata.py ARGS` == `ssl-skel gendata pyskl ARGS`."""

import sys

from ssl_skel.cli import main

if __name__ == "__main__":
    sys.exit(main(["gendata", "pyskl", *sys.argv[1:]]))
