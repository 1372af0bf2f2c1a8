"""Pretrained (zero-shot) forecasters: Chronos-Bolt and TimesFM 2.5, scored through the label barriers.

They read price contexts (:class:`~factory.models.views.PriceContextView`) with the labels' barrier widths and
turn a forecast distribution of the horizon log return into class probabilities
(:mod:`factory.models.foundation.distribution`). Their libraries come with the ``foundation`` extra and are
imported inside methods only.
"""
