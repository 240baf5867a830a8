"""Champion vs challenger promotion: the figures, the gate rules and the report, without ZenML.

The ZenML steps that load the registered champion and tag the challenger call these plain
functions, so every rule is unit-tested (and property-tested) on real fitted models.
"""
