"""asv tooling: the offline pyhf history, eras per commit, runs, selection, tier time, review, instruction counts."""
