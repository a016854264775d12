"""pyhf-bench: asv benchmarks of pyhf's backends on synthetic and published likelihoods.

The package is imported inside asv's virtualenvs next to every pyhf version
from 0.6.3 to main, so modules here import only the standard library at
module level; pyhf and its backends are imported inside functions.
"""

__version__ = "0.1.0"


class UserError(Exception):
    """Bad input: the message names the problem and the fix (printed as one line by the CLI)."""
