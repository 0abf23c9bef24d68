"""The log's side of C2SP tlog-witness: send the current checkpoint (with a consistency proof from the size
the witness last cosigned) to a witness, check the cosignature it returns, and keep it in the store so that
``GET /checkpoint/witnessed`` serves the checkpoint with every cosignature collected for it.

``send(body) -> bytes`` carries one add-checkpoint request: over HTTP (:func:`http_sender`) or to a
:class:`weightwarden.registry.witness.Witness` in this process (its ``add_checkpoint``). A witness that last
cosigned another size answers 409 with that size (``WitnessConflict``); the request is rebuilt once from it.
"""

from __future__ import annotations

from collections.abc import Callable

from weightwarden.core.errors import WeightwardenError
from weightwarden.registry.note import Checkpoint, NoteVerifier, parse_note
from weightwarden.registry.store import Store
from weightwarden.registry.witness import WitnessConflict, format_add_checkpoint, verify_cosigned

Sender = Callable[[bytes], bytes]


class WitnessingError(WeightwardenError):
    """A witness refused or returned something that is not its cosignature of our checkpoint."""


def request_cosignature(store: Store, send: Sender, witness: NoteVerifier) -> int:
    """Have ``witness`` cosign the store's current checkpoint; returns the cosigned tree size."""
    note = store.checkpoint()
    cp = Checkpoint.parse(parse_note(note).text)
    old = min(store.witness_sizes().get(witness.name, (0, 0))[0], cp.size)
    for attempt in (1, 2):
        proof = store.consistency_proof(old, cp.size)[1] if 0 < old < cp.size else []
        try:
            lines = send(format_add_checkpoint(old, proof, note))
            break
        except WitnessConflict as exc:
            if attempt == 2 or not 0 <= exc.latest_size <= cp.size:
                raise WitnessingError(f"witness {witness.name}: {exc.reason}") from None
            old = exc.latest_size
    text = lines.decode("utf-8", "replace")
    try:  # the answer must be a valid cosignature of exactly this checkpoint by this witness
        verify_cosigned(note + lines, store.signer.verifier(), [witness], 1, origin=store.origin)
    except WeightwardenError as exc:
        raise WitnessingError(f"witness {witness.name} answered something that is not its cosignature: "
                              f"{exc.reason}") from None
    for line in text.splitlines():
        if line.startswith("— " + witness.name + " "):
            store.add_cosignature(note, witness.name, line)
    return cp.size


MAX_WITNESS_ANSWER = 64 * 1024  # cosignature lines of one witness: a few hundred bytes


def http_sender(url: str, timeout: float = 30.0) -> Sender:
    """POST add-checkpoint bodies to a tlog-witness at ``url`` (``<url>/add-checkpoint``).

    Red team round 14 (G1): the answer is read through a capped stream (a 64 MiB answer was read whole before
    being cut), and a 409's size is a strict ASCII decimal (a body "²" or 5,000 nines was an internal
    ValueError): anything else is a :class:`WitnessingError` naming the witness."""
    import httpx

    from weightwarden.registry.wire import AnswerTooLarge, read_capped, strict_decimal

    def send(body: bytes) -> bytes:
        try:
            with httpx.stream("POST", url.rstrip("/") + "/add-checkpoint", content=body, timeout=timeout) as response:
                content = read_capped(response, MAX_WITNESS_ANSWER, f"the witness at {url}")
                status = response.status_code
        except AnswerTooLarge as exc:
            raise WitnessingError(exc.reason) from None
        except httpx.HTTPError as exc:
            raise WitnessingError(f"cannot reach the witness at {url}: {exc}") from None
        if status == 409:
            size = strict_decimal(content)
            if size is None:
                raise WitnessingError(f"the witness at {url} answered 409 without a tree size (an ASCII decimal): "
                                      f"{content[:200].decode('utf-8', 'replace')!r}")
            raise WitnessConflict("the witness last cosigned another size", size)
        if status != 200:
            raise WitnessingError(f"the witness at {url} answered {status}: "
                                  f"{content[:200].decode('utf-8', 'replace')}")
        return content

    return send
