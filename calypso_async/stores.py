"""Stores for ``InterventionResolver``: where the state shared by its workers lives.

::

    from calypso_async.stores import MemoryStore

    resolver = InterventionResolver(client, store=MemoryStore())

``MemoryStore`` (the default) keeps it in this process. A store implements
:class:`ResolverStore`; the value types here are what its operations take and return.
"""

from ._resolver import (
    Claim,
    ClaimSource,
    Intake,
    MemoryStore,
    OutcomeRecord,
    ResolverStore,
    WriteRefused,
)

__all__ = [
    "Claim",
    "ClaimSource",
    "Intake",
    "MemoryStore",
    "OutcomeRecord",
    "ResolverStore",
    "WriteRefused",
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
