"""Fuzz harnesses for h11dbg (issue 14): coverage-guided (atheris) harnesses for the engine, the transcript
reader and each importer, a differential harness against h11 0.16.0, and a bad-file campaign through the
CLI.  ``python -m fuzz NAME --seconds N`` runs one; ``make fuzz`` runs them all; docs/robustness.md has the
figures.  Each harness module keeps its minimized corpus in fuzz/corpus/NAME/."""
