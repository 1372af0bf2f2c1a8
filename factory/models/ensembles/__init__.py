"""Ensembles whose members are other registered models."""
