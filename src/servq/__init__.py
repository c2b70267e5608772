"""servq: monitor, analyse and continuously improve service quality.

>>> import servq
>>> with servq.open_workspace("/tmp/servq-example") as ws:       # doctest: +SKIP
...     ws.ingest("tickets.csv", profile="tickets")
...     cases = ws.read("case")
"""

from servq.errors import DefinitionError, ServqError, SourceError, WorkspaceError
from servq.ingest.engine import IngestResult
from servq.ingest.profile import Profile, parse_profile
from servq.workspace import Workspace, open_workspace

__version__ = "0.1.0"

__all__ = [
    "DefinitionError",
    "IngestResult",
    "Profile",
    "ServqError",
    "SourceError",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "open_workspace",
    "parse_profile",
]
