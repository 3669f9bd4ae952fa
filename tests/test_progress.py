"""core.progress: a bar on a terminal only; elsewhere plain log lines at every tenth of the total."""

from __future__ import annotations

import io
import logging

import pytest

from ssl_skel.core.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ssl_skel.core.progress"]


def test_without_a_terminal_no_carriage_return_and_a_line_per_tenth(caplog):
    stream = io.StringIO()
    with caplog.at_level(logging.INFO, logger="ssl_skel.core.progress"):
        seen = list(Progress(range(25), desc="features", unit="clip", stream=stream))
    assert seen == list(range(25))
    assert stream.getvalue() == ""  # nothing drawn, no "\r" frames
    # tenths of 25 clips fall due after ceil(2.5 k) clips: 3, 5, 8, 10, 13, 15, 18, 20, 23, 25
    done = [3, 5, 8, 10, 13, 15, 18, 20, 23, 25]
    assert lines(caplog) == [f"features: {100 * n // 25}% ({n}/25 clip)" for n in done]


def test_manual_updates_of_several_items_log_once_per_crossing(caplog):
    with caplog.at_level(logging.INFO, logger="ssl_skel.core.progress"):
        bar = Progress(total=10, desc="convert", unit="file", stream=io.StringIO(), log_every=0.5)
        bar.update(7)  # past the half: one line, not one per share passed
        bar.update(2)
        bar.update(1)
        bar.update(1)  # beyond the total: nothing more
        bar.close()
    assert lines(caplog) == ["convert: 70% (7/10 file)", "convert: 100% (10/10 file)"]


def test_a_terminal_gets_the_bar_and_no_lines(caplog):
    stream = FakeTerminal()
    with caplog.at_level(logging.INFO, logger="ssl_skel.core.progress"):
        bar = Progress(range(4), desc="epoch 1/2", stream=stream)
        assert bar.bar is not None
        assert list(bar) == [0, 1, 2, 3]
    assert "\r" in stream.getvalue() and "epoch 1/2" in stream.getvalue()
    assert lines(caplog) == []


@pytest.mark.parametrize("why", ["disabled", "rank 1", "no lines asked"])
def test_silent_cases(why, caplog, monkeypatch):
    stream = FakeTerminal() if why != "no lines asked" else io.StringIO()
    kwargs: dict = {"enabled": why != "disabled"}
    if why == "rank 1":
        monkeypatch.setenv("RANK", "1")
    if why == "no lines asked":
        kwargs["log_every"] = None
    with caplog.at_level(logging.INFO, logger="ssl_skel.core.progress"):
        bar = Progress(range(5), desc="x", stream=stream, **kwargs)
        assert list(bar) == list(range(5)) and bar.bar is None
        bar.set_postfix(loss="1.0")  # no bar: a no-op
    assert stream.getvalue() == "" and lines(caplog) == []


def test_bad_share_is_refused():
    with pytest.raises(ValueError, match="log_every"):
        Progress(total=3, log_every=0.0)
