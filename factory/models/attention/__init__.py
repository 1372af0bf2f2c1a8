"""Attention window models: PatchTST, iTransformer, Autoformer."""
