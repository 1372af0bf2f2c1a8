"""Thin command-line scripts behind MLproject entry points."""
