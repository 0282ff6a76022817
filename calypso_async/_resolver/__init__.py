"""The resolver layer: ``InterventionResolver``, its store Protocol and the stores.

``policy.py`` holds what a merchant's policy sees and returns; ``run.py`` is one run of
the intervention flow and ``reasons.py`` the words of its outcomes; ``claims.py`` what a
run holds in the store; ``executions.py`` makes runs safe to start from anywhere;
``pool.py`` runs them on background workers and ``worker_mode.py`` keeps the choice
between in-process workers and a store's shared queue; ``ports.py`` is the store
Protocol every process sharing a store relies on, and ``stores/`` its implementations
(memory, SQLite, Redis) with the URL that picks one; ``resolver.py`` is the public face.
"""

from .policy import Decision, Outcome, Policy, Resolution, Write, default_policy
from .ports import Claim, ClaimSource, Intake, OutcomeRecord, ResolverStore, WriteRefused
from .resolver import InterventionResolver
from .stores import MemoryStore

__all__ = [
    "Claim",
    "ClaimSource",
    "Decision",
    "Intake",
    "InterventionResolver",
    "MemoryStore",
    "Outcome",
    "OutcomeRecord",
    "Policy",
    "Resolution",
    "ResolverStore",
    "Write",
    "WriteRefused",
    "default_policy",
]
