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


def http_sender(url: str, timeout: float = 30.0) -> Sender:
    """POST add-checkpoint bodies to a tlog-witness at ``url`` (``<url>/add-checkpoint``)."""
    import httpx

    def send(body: bytes) -> bytes:
        try:
            response = httpx.post(url.rstrip("/") + "/add-checkpoint", content=body, timeout=timeout)
        except httpx.HTTPError as exc:
            raise WitnessingError(f"cannot reach the witness at {url}: {exc}") from None
        if response.status_code == 409 and response.text.strip().isdigit():
            raise WitnessConflict("the witness last cosigned another size", int(response.text.strip()))
        if response.status_code != 200:
            raise WitnessingError(f"the witness at {url} answered {response.status_code}: {response.text[:200]}")
        return response.content[:64 * 1024]

    return send
