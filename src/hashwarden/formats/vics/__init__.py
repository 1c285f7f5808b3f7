"""VICS (Project VIC) JSON: read hash sets and case exports of data model 1.x and 2.0; write 2.0 or 1.3.

A VICS file is one OData JSON object. Its data-model key (`odata.metadata` in 1.x, `@odata.context` in 2.0) names
the version, the region (2.0 only: Default, US, UK, CUSTOM) and the shape: `#Media` is a flat `value` array of
Media (how national hash sets ship), `#Cases` is a `value` array of Cases, each with a `Media` array (how tools
exchange case exports). The normative `$metadata` is not public, so this package follows the files and tools that
exist (see the research brief §1) and is lenient where they disagree, strict where a mistake would change meaning.

One module per job: `reader` (`read`: the streamed passes, shape and category scheme of a file) with `header`
(finding the data-model key), `converter` (one Media object -> `EntryRecord`) with `fields` (each field's parsing)
and `media_ids` (duplicate MediaIDs in little memory); `writer` (`write`); `model` (the names both directions
share); `imagery` (Miniature and Thumbnail, never stored or written). A scan case exported as VICS is built by
`hashwarden.report.vics_cases`.
"""
