"""Gradient-boosted tree models (LightGBM, XGBoost) behind the common model contract."""
