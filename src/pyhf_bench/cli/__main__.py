"""``python -m pyhf_bench.cli``: the same as the ``pyhf-bench`` script."""

import sys

from pyhf_bench.cli import main

sys.exit(main())
