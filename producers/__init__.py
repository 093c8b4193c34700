"""Publishing into commentfeed: the async library, the HTTP ingest API and the CLI commands.

    from producers import Publisher
    async with Publisher(settings) as pub:
        delivery = await pub.publish(event)
"""

from producers.publisher import Delivery, PublishBatchError, Publisher

__all__ = ["Delivery", "PublishBatchError", "Publisher"]
