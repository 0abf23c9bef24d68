"""Weight-level lineage: tensor access, diff, derivation test, fingerprint, safe convert."""
