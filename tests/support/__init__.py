"""Helpers the tests import (``support.*``; the suite runs with ``pythonpath = ["tests", "."]``)."""
