"""Generators of the published contract: docs/asyncapi.yaml and docs/schemas/.

Build-time tools, not part of the runtime wheel (they need ``pyyaml``, a dev dependency):
``make asyncapi`` and ``make schemas`` run them, and tests fail when the committed documents
differ from what the models say.
"""
