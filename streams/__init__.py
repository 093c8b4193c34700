"""The streams worker: Faust agents fold ``articles`` and ``comments`` into tables and emit
``feed.updates``, ``feed.counts`` and ``comments.dlq``; a query API serves snapshots.

``logic`` and ``queries`` are pure; ``app``, ``agents``, ``tables``, ``views`` and ``transport``
wire them to Faust.
"""
