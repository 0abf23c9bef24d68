"""Indicators of attacks that can be shared without sharing the attack: keyed digests and sketches of
normalised prompts, model indicators, matching, private set intersection cardinality and STIX 2.1 exchange.

See ``docs/indicators.md``. Modules: :mod:`.errors`, :mod:`.keys` (group keys and sub-keys),
:mod:`.normalise` (canonical text, jailbreak decoding), :mod:`.sketch` (keyed MinHash, LSH),
:mod:`.records` (the indicator set record), :mod:`.derive` (evidence → indicators), :mod:`.match`,
:mod:`.psi` (PSI cardinality), :mod:`.stix` (STIX 2.1 bundles), :mod:`.demo`.
"""
