"""The websocket gateway: protocol v1 (docs/protocol.md) for browsers and other clients.

Pure, no I/O: ``protocol`` (codes, limits and every frame as a model), ``frames`` (requests
parsed fast, frames built), ``snapshots`` (updates folded into a hot channel's snapshot),
``history`` (the resume ring), ``core`` (connections, subscriptions, channel positions, limits).
I/O: ``server`` (websockets, the ``feed.updates`` consumer, the streams API client, probes),
``metrics``, ``settings``, ``cli``. Widget assets live in ``static``.
"""
