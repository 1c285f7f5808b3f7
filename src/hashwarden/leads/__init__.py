"""Victim-identification leads: what a case's unknown media say about where they came from (their own metadata,
never pixels), and how they hang together (clusters of near-duplicates and bursts, items sharing a device).
Knows nothing of the service; the scan calls it while it reads items and before it writes the report."""
