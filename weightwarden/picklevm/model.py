"""Records produced by the symbolic pickle machine."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CallSite:
    """One place where a pickle program imports or invokes something.

    ``target`` is the dotted ``module.qualname`` as resolved (``"os.system"``,
    ``"torch._utils._rebuild_tensor_v2"``); ``"<computed>"`` when the name could not be known statically.
    ``kind`` is ``"import"`` (GLOBAL/STACK_GLOBAL/INST/EXT resolved a name), ``"call"`` (REDUCE, NEWOBJ,
    NEWOBJ_EX, INST, OBJ invoked it) or ``"build"`` (BUILD ran ``__setstate__``/attribute updates on it).
    ``offset`` is the byte offset of the opcode within the container file (stream base included).
    ``computed`` is True when the name was built at run time (memo tricks, getattr chains, STACK_GLOBAL over
    non-literal strings). ``args`` is a short printable summary of literal arguments when known.
    """

    target: str
    kind: str
    opcode: str
    offset: int
    args: str = ""
    computed: bool = False


@dataclass(frozen=True, slots=True)
class PickleAnalysis:
    """The symbolic walk of one pickle program (from its first opcode to STOP).

    The walk is kept even when it stops early: ``error`` says why (malformed opcode, truncation) and
    ``limit_hit`` names a bound that was reached. Call sites seen before the problem are all reported.
    ``divergences`` lists places where ``pickle.load`` with the C unpickler and ``pickle._Unpickler`` (the
    pure-Python one) would run different opcodes from the same bytes (frame boundaries); the walk follows
    the C reading and keeps going where only the pure-Python one would.
    """

    start: int
    end: int | None
    protocol: int | None
    opcodes: int
    globals: tuple[CallSite, ...] = ()
    calls: tuple[CallSite, ...] = ()
    nested: tuple[PickleAnalysis, ...] = ()
    persistent_ids: int = 0
    error: str | None = None
    limit_hit: str | None = None
    notes: tuple[str, ...] = field(default=())
    divergences: tuple[str, ...] = ()  # where CPython's C and pure-Python unpicklers read the bytes differently
    # BUILDs whose state was not a fully known literal (it may have set an instance __setstate__/append/extend):
    # the rebuild-only exemption (policy.REBUILD_ONLY) does not hold in such a program (red team round 6).
    opaque_states: int = 0
    # (target, "OPCODE @offset"): imported objects stored as values (in a container, a BUILD state, a call
    # argument) rather than only used as callee or class operand. Library code that later calls a method found
    # on an instance (Optimizer.__setstate__'s defaults.setdefault, deepcopy's __deepcopy__) may call them
    # (red team round 7): the rebuild-only exemption does not hold for them.
    stored: tuple[tuple[str, str], ...] = ()
    # Calls of an allowlisted helper with an argument its reviewed contract does not accept (numpy.random's
    # pickle ctors given anything but a BitGenerator name/class/instance: they call it; red team round 8).
    misuses: tuple[CallSite, ...] = ()
    # Where a loader that reads this program from a *file* goes on reading (red team round 11): the end of the
    # frame STOP was in, when that frame runs past STOP (the C unpickler reads a whole frame from the file, so
    # pickle.load / torch.load's next pickle.load starts after it). None: the same as ``end``.
    resume: int | None = None

    def all_sites(self) -> tuple[CallSite, ...]:
        """Imports and calls of this program and of every nested program."""
        sites = self.globals + self.calls
        for inner in self.nested:
            sites += inner.all_sites()
        return sites
