"""The weightwarden registry: a transparency log of model releases, revocations, audits and incidents.

The log itself (``tlog``, ``tiles``, ``note``, ``witness``, ``splitview``, ``proof_file``) is a pure library
speaking RFC 6962/9162 hashing and the C2SP tlog-tiles, signed-note, tlog-checkpoint, tlog-cosignature,
tlog-witness and tlog-proof formats; it has no database and no HTTP. The store, server and client build on it.
"""
