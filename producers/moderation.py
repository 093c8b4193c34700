"""Which new comments wait for a moderator: pre-moderation and banned words (pure, no I/O).

Pre-moderation holds every new comment of a site (``COMMENTFEED_PREMODERATED_SITES``) or of an
article (``COMMENTFEED_PREMODERATED_ARTICLES``); a site's banned words
(``COMMENTFEED_BANNED_WORDS``) hold the comments that contain one. A held comment is published
as ``comment.posted`` with ``status: "pending"``: it reaches the site's moderation queue, not the
readers, until a moderator approves it (``comment.moderated``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from commentfeed.events import HoldReason
from commentfeed.settings import Settings

#: Why a comment was held (``comment.posted`` ``held_for``), as the moderation queue shows it.
PREMODERATED: Final = "premoderated"
BANNED_WORD: Final = "banned_word"


def _words_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    cleaned = sorted({w.strip().casefold() for w in words if w.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    # Whole words only ("ass" must not hold "class"); whitespace inside a phrase may vary.
    alternatives = "|".join(r"\s+".join(map(re.escape, w.split())) for w in cleaned)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ModerationPolicy:
    premoderated_sites: frozenset[str] = frozenset()
    premoderated_articles: frozenset[str] = frozenset()
    #: Site -> the compiled banned-words pattern.
    banned: Mapping[str, re.Pattern[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, *, premoderated_sites: Iterable[str] = (),
           premoderated_articles: Iterable[str] = (),
           banned_words: Mapping[str, Iterable[str]] | None = None) -> ModerationPolicy:
        patterns = {site: p for site, words in (banned_words or {}).items()
                    if (p := _words_pattern(words)) is not None}
        return cls(frozenset(premoderated_sites), frozenset(premoderated_articles), patterns)

    @classmethod
    def from_settings(cls, settings: Settings) -> ModerationPolicy:
        return cls.of(premoderated_sites=settings.premoderated_sites,
                      premoderated_articles=settings.premoderated_articles,
                      banned_words=settings.banned_words)

    def hold_reasons(self, site: str, article_id: str, body: str) -> list[HoldReason]:
        """Why a new comment must wait for a moderator; empty: it is visible at once."""
        reasons: list[HoldReason] = []
        if site in self.premoderated_sites or article_id in self.premoderated_articles:
            reasons.append(PREMODERATED)
        pattern = self.banned.get(site)
        if pattern is not None and pattern.search(body) is not None:
            reasons.append(BANNED_WORD)
        return reasons


#: No pre-moderation, no banned words.
OPEN = ModerationPolicy()
