"""Thin wrapper: `python data_gen/ucla_gendata.py ARGS` == `ssl-skel gendata ucla ARGS`."""

import sys

from ssl_skel.cli import main

if __name__ == "__main__":
    sys.exit(main(["gendata", "ucla", *sys.argv[1:]]))
