"""Thin wrapper: `python data_gen/sbu_gendata.py ARGS` == `ssl-skel gendata sbu ARGS`."""

import sys

from ssl_skel.cli import main

if __name__ == "__main__":
    sys.exit(main(["gendata", "sbu", *sys.argv[1:]]))
