"""Use cases: what the API and the CLI ask for, written once against the ports."""
