"""Most discussed articles: a service with its own view, built from commentfeed's topics.

``view`` is the pure fold; ``consumer`` is the thin aiokafka shell around it; ``__main__``
runs it from the command line. Only aiokafka and commentfeed's codec and models are used.
"""
