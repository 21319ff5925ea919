"""Signals during an extract: it stops as a run does, and a watch around it learns of the signal too."""

import os
import signal

import pytest

from extract.errors import Interrupted
from extract.run import _stop_on_signals
from extract.update import _signals_recorded


def test_a_signal_during_the_extract_reaches_the_watch_even_when_the_extract_fails_otherwise():
    with _signals_recorded() as watch_signals:
        with pytest.raises(TimeoutError), _stop_on_signals() as stop:
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.signum == signal.SIGTERM
            raise TimeoutError("the warehouse lock was not free")  # the extract fails for its own reason
        assert watch_signals.signum == signal.SIGTERM


def test_a_signal_during_the_extract_alone_stops_it_with_its_exit_code_and_leaves_ctrl_c_as_it_was():
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted) as stopped, _stop_on_signals():
        os.kill(os.getpid(), signal.SIGINT)  # not a KeyboardInterrupt: the default handler is not passed the signal
    assert stopped.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is handler
