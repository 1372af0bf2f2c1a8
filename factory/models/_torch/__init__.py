"""Shared PyTorch machinery of the deep sequence models: runtime (device, threads, seeds), the one trainer, the
window-model base class and the layers several architectures share.

Nothing here imports torch at package import: :mod:`factory.models` registers the deep models without it, and
torch is imported the first time one is built, fitted or loaded.
"""
