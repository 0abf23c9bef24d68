"""An independent verifier for weightwarden's transparency log, written from the specifications only.

Sources: RFC 6962 §2.1 (Merkle Tree Hash, PATH, SUBPROOF definitions), c2sp.org/signed-note,
c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature, c2sp.org/tlog-tiles, c2sp.org/tlog-proof.
It deliberately shares no code with weightwarden (only hashlib and cryptography are imported) and takes
a different route where it can: proofs are checked by recursing over the RFC 6962 definitions of PATH and
SUBPROOF instead of the iterative RFC 9162 algorithm, and the tree is recomputed from the entry bundles.

Usage: python independent_verifier.py LOG_DIR --log-key VKEY [--witness-key VKEY ... --quorum K] [--entries]
LOG_DIR holds ``checkpoint`` and ``tile/...`` as a tlog-tiles log serves them. Exit 0 when everything
verifies, 1 with a message otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Invalid(Exception):
    pass


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def b64d(text: str) -> bytes:
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode() != text:
        raise Invalid(f"non-canonical base64 {text!r}")
    return raw


# ---- RFC 6962 §2.1 -------------------------------------------------------------------------------------

def leaf(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over already hashed leaves, by the recursive definition."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node(mth(leaves[:k]), mth(leaves[k:]))


def root_from_path(index: int, size: int, leaf_hash: bytes, path: list[bytes]) -> bytes:
    """Walk PATH(m, D[n]) from the root down: its LAST element is the sibling subtree at the top."""
    if size == 1:
        if path:
            raise Invalid("inclusion proof too long")
        return leaf_hash
    if not path:
        raise Invalid("inclusion proof too short")
    k = split(size)
    if index < k:
        return node(root_from_path(index, k, leaf_hash, path[:-1]), path[-1])
    return node(path[-1], root_from_path(index - k, size - k, leaf_hash, path[:-1]))


def _hashes(*values: bytes) -> None:
    if any(len(v) != 32 for v in values):
        raise Invalid("a hash is not 32 bytes")


def check_inclusion(leaf_hash: bytes, index: int, size: int, root: bytes, path: list[bytes]) -> None:
    _hashes(leaf_hash, root, *path)
    if not 0 <= index < size:
        raise Invalid(f"index {index} not in tree of size {size}")
    if root_from_path(index, size, leaf_hash, path) != root:
        raise Invalid(f"inclusion proof for {index} in {size} does not reach the root")


def _subproof_roots(m: int, n: int, proof: list[bytes], complete: bool, old_root: bytes) -> tuple[bytes, bytes]:
    """(hash of the first m leaves of this subtree, hash of this subtree) as SUBPROOF(m, D[n], b) implies."""
    if m == n:
        if complete:
            if proof:
                raise Invalid("consistency proof too long")
            return old_root, old_root
        if len(proof) != 1:
            raise Invalid("consistency proof has the wrong length")
        return proof[0], proof[0]
    if not proof:
        raise Invalid("consistency proof too short")
    k = split(n)
    if m <= k:
        old, new = _subproof_roots(m, k, proof[:-1], complete, old_root)
        return old, node(new, proof[-1])
    old, new = _subproof_roots(m - k, n - k, proof[:-1], False, old_root)
    return node(proof[-1], old), node(proof[-1], new)


def check_consistency(m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> None:
    _hashes(old_root, new_root, *proof)
    if m == 0 and old_root != sha256(b""):
        raise Invalid("the empty tree's root is SHA-256 of nothing")
    if m == n:
        if proof or old_root != new_root:
            raise Invalid("equal sizes need an empty proof and equal roots")
        return
    if not 0 < m < n:
        raise Invalid(f"no consistency proof from {m} to {n}")
    old, new = _subproof_roots(m, n, proof, True, old_root)
    if old != old_root or new != new_root:
        raise Invalid(f"consistency proof from {m} to {n} does not verify")


# ---- c2sp.org/signed-note, tlog-checkpoint, tlog-cosignature -------------------------------------------

def parse_vkey(vkey: str) -> tuple[str, bytes, int, bytes]:
    name, hex_id, material = vkey.split("+", 2)
    raw = b64d(material)
    alg, pub = raw[0], raw[1:]
    if alg not in (0x01, 0x04) or len(pub) != 32:
        raise Invalid(f"unsupported verifier key {vkey!r}")
    key_id = sha256(name.encode() + b"\n" + bytes([alg]) + pub)[:4]
    if key_id.hex() != hex_id:
        raise Invalid(f"key ID of {name} does not match its key")
    return name, key_id, alg, pub


def open_signed_note(data: bytes, vkeys: list[str]) -> tuple[bytes, set[str]]:
    """(note text, names of trusted keys whose signature verified); raises if a trusted one fails."""
    text_str = data.decode("utf-8")
    if any(ord(c) < 0x20 and c != "\n" for c in text_str):
        raise Invalid("control character in note")
    cut = text_str.rindex("\n\n")
    text = text_str[: cut + 1].encode()
    sig_lines = text_str[cut + 2 :]
    if not sig_lines.endswith("\n"):
        raise Invalid("note does not end with a newline")
    keys = {}
    for vkey in vkeys:
        name, key_id, alg, pub = parse_vkey(vkey)
        keys[(name, key_id)] = (alg, pub)
    good: set[str] = set()
    for line in sig_lines[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Invalid(f"bad signature line {line!r}")
        name, sig_b64 = line[2:].split(" ")
        raw = b64d(sig_b64)
        trusted = keys.get((name, raw[:4]))
        if trusted is None:
            continue
        alg, pub = trusted
        sig = raw[4:]
        if alg == 0x01:
            message, signature = text, sig
        else:
            if len(sig) != 72:
                raise Invalid(f"cosignature of {name} has the wrong length")
            timestamp = int.from_bytes(sig[:8], "big")
            message = b"cosignature/v1\ntime %d\n" % timestamp + text
            signature = sig[8:]
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(signature, message)
        except InvalidSignature:
            raise Invalid(f"signature of trusted key {name} does not verify") from None
        good.add(name)
    return text, good


def parse_checkpoint_text(text: bytes) -> tuple[str, int, bytes]:
    lines = text.decode().split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise Invalid("checkpoint needs origin, size and root lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise Invalid("bad tree size")
    root_hash = b64d(root)
    if len(root_hash) != 32:
        raise Invalid("root hash is not 32 bytes")
    return origin, int(size), root_hash


def verify_checkpoint(data: bytes, log_vkey: str, witness_vkeys: list[str], quorum: int) -> tuple[str, int, bytes]:
    log_name = parse_vkey(log_vkey)[0]
    text, good = open_signed_note(data, [log_vkey])
    if log_name not in good:
        raise Invalid("checkpoint is not signed by the log")
    if quorum:
        _, cosigned = open_signed_note(data, witness_vkeys) if witness_vkeys else (b"", set())
        if len(cosigned) < quorum:
            raise Invalid(f"{len(cosigned)} witness cosignatures, {quorum} required")
    origin, size, root = parse_checkpoint_text(text)
    if origin != log_name:
        raise Invalid("checkpoint origin is not the log's name")
    return origin, size, root


# ---- c2sp.org/tlog-tiles -------------------------------------------------------------------------------

def tile_path(level: str, n: int, width: int) -> str:
    parts = []
    while True:
        parts.append(n % 1000)
        n //= 1000
        if n == 0:
            break
    parts.reverse()
    elements = [f"x{p:03d}" for p in parts[:-1]] + [f"{parts[-1]:03d}"]
    path = f"tile/{level}/" + "/".join(elements)
    return path if width == 256 else f"{path}.p/{width}"


def read_entries(log_dir: str, size: int) -> list[bytes]:
    entries: list[bytes] = []
    for n in range((size + 255) // 256):
        width = min(256, size - n * 256)
        with open(os.path.join(log_dir, tile_path("entries", n, width)), "rb") as fh:
            data = fh.read()
        pos = 0
        while pos < len(data):
            length = int.from_bytes(data[pos : pos + 2], "big")
            if pos + 2 + length > len(data):
                raise Invalid(f"entry bundle {n} is cut short")
            entries.append(data[pos + 2 : pos + 2 + length])
            pos += 2 + length
        if len(entries) != n * 256 + width:
            raise Invalid(f"entry bundle {n} holds the wrong number of entries")
    return entries


def check_tiles(log_dir: str, size: int, leaves: list[bytes]) -> int:
    """Every hash tile of the tree (spec formula MTH(D[(n*256+i)*256**l : (n*256+i+1)*256**l])) is present
    and holds exactly those hashes. Returns how many tiles were checked."""
    checked = 0
    level = 0
    while size >= 256**level:
        span = 256**level
        count = size // span  # hashes at this level
        for n in range((count + 255) // 256):
            width = min(256, count - n * 256)
            with open(os.path.join(log_dir, tile_path(str(level), n, width)), "rb") as fh:
                data = fh.read()
            want = b"".join(mth(leaves[(n * 256 + i) * span : (n * 256 + i + 1) * span]) for i in range(width))
            if data != want:
                raise Invalid(f"tile {tile_path(str(level), n, width)} does not hold the tree's hashes")
            checked += 1
        level += 1
    return checked


def verify_log_dir(log_dir: str, log_vkey: str, witness_vkeys: list[str], quorum: int) -> tuple[int, bytes, list[bytes]]:
    with open(os.path.join(log_dir, "checkpoint"), "rb") as fh:
        _, size, root = verify_checkpoint(fh.read(), log_vkey, witness_vkeys, quorum)
    entries = read_entries(log_dir, size)
    leaves = [leaf(e) for e in entries]
    if mth(leaves) != root:
        raise Invalid("entries do not hash to the checkpoint's root")
    check_tiles(log_dir, size, leaves)
    return size, root, entries


# ---- weightwarden registry entries (--entries) ---------------------------------------------------------
# Not a C2SP format: written from the entry and request formats as weightwarden documents them (registry/entries.py
# and registry/auth.py module docstrings), with no shared code. Each leaf is canonical JSON
# {"body": B, "publisher": {"key_id", "public_key"}, "request": {"method", "path", "timestamp", "nonce",
# "signature"}, "schema": "weightwarden.registry.entry/v1"}; the publisher signed, with Ed25519, the lines
# "weightwarden-registry-request/v1", origin, method, path, timestamp, nonce, hex sha256(B's exact bytes), each
# ended by a newline. B's bytes are cut out of the leaf as they stand (the leaf starts with '{"body":'), not
# re-serialised, so this needs no JSON canonicaliser.

def check_entry_signatures(entries: list[bytes], origin: str) -> None:
    import json

    seen: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(entries):
        try:
            text = raw.decode("utf-8")
            if not text.startswith('{"body":'):
                raise ValueError("does not start with the body")
            _, end = json.JSONDecoder().raw_decode(text, len('{"body":'))
            body = text[len('{"body":'):end].encode("utf-8")
            obj = json.loads(text)
            pub, req = obj["publisher"], obj["request"]
            key = b64d(pub["public_key"])
            if len(key) != 32 or hashlib.sha256(key).hexdigest() != pub["key_id"]:
                raise ValueError("key_id is not the SHA-256 of the public key")
            if req["method"] != "POST" or str(req["path"]).split("?")[0] != "/entries":
                raise ValueError("not a POST /entries request")
            if type(req["timestamp"]) is not int:
                raise ValueError("timestamp is not an integer")
            message = "".join(f"{line}\n" for line in (
                "weightwarden-registry-request/v1", origin, req["method"], req["path"], req["timestamp"],
                req["nonce"], hashlib.sha256(body).hexdigest())).encode("utf-8")
            Ed25519PublicKey.from_public_bytes(key).verify(b64d(req["signature"]), message)
        except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
            raise Invalid(f"entry {index}: its publisher did not sign it ({exc or type(exc).__name__})") from None
        # a replay repeats the whole signed request: a (key, nonce) reused with another timestamp after the
        # server's window is a new request its key's holder signed (red team round 11, D1)
        pair = (pub["key_id"], str(req["nonce"]), req["timestamp"])
        if pair in seen:
            raise Invalid(f"entry {index}: repeats the signed request of entry {seen[pair]} (a replay)")
        seen[pair] = index


# ---- c2sp.org/tlog-proof -------------------------------------------------------------------------------

def verify_tlog_proof(data: bytes, entry: bytes, log_vkey: str, witness_vkeys: list[str], quorum: int) -> int:
    head, _, checkpoint = data.partition(b"\n\n")
    lines = head.decode().split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        raise Invalid("not a tlog-proof")
    rest = lines[1:]
    if rest and rest[0].startswith("extra "):
        rest = rest[1:]
    if not rest or not rest[0].startswith("index "):
        raise Invalid("no index line")
    index = int(rest[0][6:])
    path = [b64d(h) for h in rest[1:]]
    _, size, root = verify_checkpoint(checkpoint, log_vkey, witness_vkeys, quorum)
    check_inclusion(leaf(entry), index, size, root, path)
    return index


def main(argv: list[str]) -> int:
    args = list(argv)
    log_dir = args.pop(0)
    log_vkey, witnesses, quorum, check_entries = "", [], 0, False
    while args:
        flag = args.pop(0)
        if flag == "--log-key":
            log_vkey = args.pop(0)
        elif flag == "--witness-key":
            witnesses.append(args.pop(0))
        elif flag == "--quorum":
            quorum = int(args.pop(0))
        elif flag == "--entries":  # also check that each entry's publisher signed it (weightwarden entries)
            check_entries = True
        else:
            print(f"unknown argument {flag}", file=sys.stderr)
            return 2
    try:
        size, root, entries = verify_log_dir(log_dir, log_vkey, witnesses, quorum)
        if check_entries:
            check_entry_signatures(entries, parse_vkey(log_vkey)[0])
    except (Invalid, OSError, ValueError, UnicodeDecodeError) as exc:
        print(f"INVALID: {exc}")
        return 1
    print(f"OK: {size} entries, root {base64.b64encode(root).decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
