"""PSI cardinality over 127.0.0.1 and over files: the right count, and refusals for mismatched or abusive peers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from weightwarden.indicators import psi
from weightwarden.indicators.derive import build_set, prompt_indicator
from weightwarden.indicators.errors import IndicatorFormatError, PsiError, SchemeMismatchError
from weightwarden.indicators.keys import GroupKey
from weightwarden.indicators.sketch import Sketcher


def _set(sketcher: Sketcher, numbers: range):
    return build_set(sketcher, [prompt_indicator(sketcher, f"attack prompt number {n} of the red team")
                                for n in numbers])


def _serve(server_set, **kw):
    ready, box = threading.Event(), {}

    def run():
        try:
            box["result"] = psi.serve(server_set, ready=lambda port: (box.update(port=port), ready.set()),
                                      timeout=30, **kw)
        except Exception as exc:  # noqa: BLE001 - handed to the test thread
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30)
    return thread, box


def test_tcp_cardinality_on_127_0_0_1(sketcher: Sketcher):
    client_set, server_set = _set(sketcher, range(0, 1000)), _set(sketcher, range(700, 1500))
    thread, box = _serve(server_set)
    result = psi.connect(client_set, port=box["port"], timeout=30, share_result=True)
    thread.join(30)
    assert result.cardinality == 300 and (result.mine, result.theirs) == (1000, 800)
    assert box["result"].cardinality == 300  # the client shared the count
    assert result.bytes_sent == box["result"].bytes_received > 1000 * 32


def test_client_keeps_the_count_to_itself_by_default(sketcher: Sketcher):
    thread, box = _serve(_set(sketcher, range(0, 50)))
    assert psi.connect(_set(sketcher, range(25, 60)), port=box["port"]).cardinality == 25
    thread.join(30)
    assert box["result"].cardinality is None


def test_mismatched_keys_are_refused_by_both_sides(sketcher: Sketcher):
    thread, box = _serve(_set(sketcher, range(10)))
    stranger = Sketcher(GroupKey.generate())
    with pytest.raises(PsiError, match="another group key"):
        psi.connect(_set(stranger, range(10)), port=box["port"], timeout=30)
    thread.join(30)
    assert isinstance(box["error"], SchemeMismatchError)


def test_server_limits_the_client_set(sketcher: Sketcher):
    thread, box = _serve(_set(sketcher, range(10)), max_client_items=5)
    with pytest.raises(PsiError, match="at most 5"):
        psi.connect(_set(sketcher, range(10)), port=box["port"], timeout=30)
    thread.join(30)
    thread, box = _serve(_set(sketcher, range(10)))
    with pytest.raises(PsiError, match="at least 10"):  # one item would be a membership test
        psi.connect(_set(sketcher, range(1)), port=box["port"], timeout=30)
    thread.join(30)


def test_file_mode_and_hostile_messages(sketcher: Sketcher, tmp_path: Path):
    mine, theirs = _set(sketcher, range(0, 40)), _set(sketcher, range(30, 90))
    state = tmp_path / "state.json"
    request = psi.make_request(mine, state)
    assert (state.stat().st_mode & 0o777) == 0o600
    response = psi.respond(theirs, request)
    assert psi.finish(state, response).cardinality == 10
    with pytest.raises(IndicatorFormatError, match="truncated"):
        psi.respond(theirs, request[:-5])
    with pytest.raises(IndicatorFormatError, match="not a weightwarden PSI message"):
        psi.respond(theirs, b"hello")
    header, frames = psi._unpack(request, 1, "r")
    header["items"] = 30  # lies about its size
    with pytest.raises(PsiError, match="announced 30 items but sent 40"):
        psi.respond(theirs, psi._pack(header, *frames))
    import private_set_intersection.python as openmined

    revealing = openmined.client.CreateWithNewKey(True).CreateRequest(sorted(p.exact for p in mine.prompts))
    with pytest.raises(PsiError, match="reveal the intersection"):
        psi.respond(theirs, psi._pack(psi._hello(mine, 40), revealing.SerializeToString()))
    with pytest.raises(PsiError, match="malformed PSI request"):
        psi.respond(theirs, psi._pack(psi._hello(mine, 40), b"\xff\x00garbage"))
