#!/usr/bin/env python
"""Linear probe of a frozen encoder: python eval/linear_eval.py --checkpoint RUN/last.pt [--config X] [key=value ...]"""

import sys

from ssl_skel.cli import main

if __name__ == "__main__":
    sys.exit(main(["linear", *sys.argv[1:]]))
