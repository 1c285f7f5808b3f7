"""Grading: reviewers' votes on media recorded as data, and reconciled into grades by a versioned rule (issue 18).

`votes.py` checks votes (scheme, category, attributes, hashes) and records them through `store.votes`;
`consensus.py` is the rule and the grades it gives. Knows nothing of evidence, scans or the service: the CLI and
the service call the same functions.
"""
