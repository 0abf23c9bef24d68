"""Red-team and safety evaluations: backends, suites, detectors, runner, results."""
