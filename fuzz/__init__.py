"""Fuzz harnesses for h11dbg (issue 14): coverage-guided (atheris) harnesses for the engine, the transcript
reader and each importer, a differential harness against h11 0.16.0, and a bad-file campaign through the
CLI.  ``python -m fuzz NAME --seconds N`` runs one; ``make fuzz`` runs them all; docs/robustness.md has the
figures.  Each harness module keeps its minimized corpus in fuzz/corpus/NAME/."""

import resource


def children_cpu_seconds() -> float:
    """CPU time (user and system) of every child this process has waited for, and of theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
