"""Published JSON Schemas of weightwarden's records (``scan-report.v1.json``, ``risk-assessment.v1.json``), shipped
as package data."""
