"""Small reference models that prove the model-input seam (windows, price contexts) end to end.

They are not part of the registered set a user trains (``factory models list`` does not show them): importing
:mod:`factory.models.reference.toy` registers them, which the test suite does. A saved one loads anywhere,
because ``model.json`` names its module.
"""
