"""commentfeed's shared core: settings, the event contract, the codec, the CLI, the dev stack."""

__version__ = "0.1.0"
