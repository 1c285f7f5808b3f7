"""The VICS data model as reading and writing both see it: data-model keys and URIs, versions, regions and shapes,
the Media fields mapped onto `EntryRecord` columns, and the attributes key of a `#Cases` record's case."""

from __future__ import annotations

import re

CASE_KEY = "_case"  # attributes key holding a #Cases record's case fields
MODEL_KEYS = ("@odata.context", "odata.metadata")  # 2.0, 1.x
WRITE_VERSIONS = ("2.0", "1.3")
WRITE_REGIONS = ("Default", "US", "UK", "CUSTOM")
SHAPES = ("media", "cases")
MODEL_URI = {
    "1.3": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#{fragment}",
    "2.0": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/{region}/$metadata#{fragment}",
}
MODEL_RE = re.compile(
    r"/DataModels/(?P<version>\d+(?:\.\d+)*)\.xml(?:/(?P<region>[^/#$]+))?(?:/\$metadata)?(?:#(?P<fragment>\w+))?",
    re.IGNORECASE,
)
# Media fields mapped onto EntryRecord columns; everything else goes to attributes.
MAPPED = (
    "MediaID", "Category", "MD5", "SHA1", "SHA256", "PDQ", "PDQQuality", "PhotoDNA", "MediaSize", "DateUpdated",
    "VictimIdentified", "OffenderIdentified", "IsDistributed", "Series", "Tags", "Comments",
)
MAPPED_BY_LOWER = {name.lower(): name for name in MAPPED}
MEDIA_KINDS = ("image", "video")
