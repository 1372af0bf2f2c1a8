"""Suite-wide setup: the reference window and price-context models join the registry for every test, so the
tests that run over ``list_models()`` prove the model-input seam on them too."""

import factory.models.reference.toy  # noqa: F401  (registers toy_window and toy_price)
