"""Authentication of indicator sets under the group key (red team round 17, class 2).

Before round 17 a set carried no authentication: a relay without the key (a TAXII server, a mail gateway, a
registry mirror) replaced every exact digest after its first 16 hex characters (so every ``pi-`` id stayed the
same) or every sealed sketch with random bytes, and `import`, `match` and `incident new` accepted the result with
exit 0: "nobody saw our attack". Random bytes pass the randomness tests by design, and the opened sketch of a
forged one is uniform garbage, so nothing in the set could show the change.

Every set now carries ``auth``: ``{"mac": "hmac-sha256-set/v1", "tag": HMAC-SHA-256(K_setmac, message)}`` where
``K_setmac`` is the group key's sub-key :data:`SET_MAC_LABEL` (domain-separated from the digest, sketch, pad and
model sub-keys by its label, :meth:`GroupKey.subkey`) and ``message`` is :data:`MESSAGE_PREFIX` followed by the
native file (``records.dump_json``) of the set's shareable part without ``auth`` (``IndicatorSet.authenticated_json``:
private fields, which never leave home, are not covered, so stripping them keeps the tag valid). One tag per set, not per indicator: it also covers
what a per-indicator tag cannot (an indicator deleted, the TLP, the scheme, the model indicators, the creation
time), and it costs 32 bytes per set instead of 32 per indicator of random-looking bits. The STIX form carries
the same tag in the grouping's weightwarden extension; the tag is over the native form, so a set converted
between the two forms keeps its tag.

Who can check it: only key holders (``match``, ``import --key``, ``export --key``, ``incident new
--indicator-key``, ``psi ... --key``). Without the key a reader checks that a tag of the right form is present,
not that it matches: a party without the key (a registry that stores attachments, a PSI run without ``--key``)
cannot tell an altered set from an intact one.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

from weightwarden.indicators.errors import SetAuthenticationError
from weightwarden.indicators.keys import GroupKey
from weightwarden.indicators.records import IndicatorSet, dump_json

SET_MAC_LABEL = "set-mac/v1"
MESSAGE_PREFIX = b"weightwarden.indicator-set-mac/v1\n"


def set_tag(indicators: IndicatorSet, key: GroupKey) -> str:
    """The authentication tag of ``indicators`` under ``key`` (hex)."""
    message = MESSAGE_PREFIX + dump_json(indicators.authenticated_json()).encode("utf-8")
    return hmac.new(key.subkey(SET_MAC_LABEL), message, hashlib.sha256).hexdigest()


def sign_set(indicators: IndicatorSet, key: GroupKey) -> IndicatorSet:
    """``indicators`` with its tag under ``key`` (any previous tag replaced)."""
    if indicators.scheme.key_id != key.key_id:
        raise SetAuthenticationError(f"the group key (id {key.key_id}) is not the key of this indicator set (id "
                                     f"{indicators.scheme.key_id}); a set is signed with the key it was made with")
    return replace(indicators, auth=set_tag(indicators, key))


def verify_set(indicators: IndicatorSet, key: GroupKey, where: str) -> IndicatorSet:
    """``indicators`` if its tag matches under ``key``; else :class:`SetAuthenticationError` naming ``where``."""
    if indicators.auth is None:
        raise SetAuthenticationError(f"{where}: the indicator set carries no authentication tag; refused (write it "
                                     "again with `weightwarden indicators export --key KEYFILE`)")
    if not hmac.compare_digest(indicators.auth, set_tag(indicators, key)):
        raise SetAuthenticationError(
            f"{where}: set was altered or made with another key: its authentication tag does not match its content "
            f"under the group key held (key id {key.key_id}); refused. Ask its producer for the set again over a "
            "channel you trust")
    return indicators
