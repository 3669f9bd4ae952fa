"""Thin wrapper: `python data_gen/penn_gendata.py ARGS` == `ssl-skel gendata penn ARGS`."""

import sys

from ssl_skel.cli import main

if __name__ == "__main__":
    sys.exit(main(["gendata", "penn", *sys.argv[1:]]))
