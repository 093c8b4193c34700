from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from commentfeed.gc_tuning import FIRST_GENERATION, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_services_collect_cycles_less_often_and_freeze_what_they_start_with() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    tune_gc()
    assert gc.get_threshold()[0] == FIRST_GENERATION
    assert gc.get_freeze_count() > 1000  # every module, class and function loaded so far
