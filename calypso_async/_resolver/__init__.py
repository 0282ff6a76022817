"""The resolver layer: ``InterventionResolver``, its store Protocol and the stores.

``policy.py`` holds what a merchant's policy sees and returns; ``run.py`` is one run of
the intervention flow and ``reasons.py`` the words of its outcomes; ``claims.py`` what a
run holds in the store; ``executions.py`` makes runs safe to start from anywhere;
``pool.py`` runs them on background workers and ``worker_mode.py`` keeps the choice
between in-process workers and a store's shared queue; ``ports.py`` is the store
Protocol every process sharing a store relies on, and ``stores/`` its implementations
(memory, SQLite, Redis) with the URL that picks one; ``resolver.py`` is the public face.
``tracking.py``, ``intervals.py``, ``budget.py`` and ``tracker.py`` poll tracked
invoices within a request budget, so that no intervention is missed.
"""

from .budget import RequestBudget
from .intervals import PollSchedule
from .policy import Decision, Outcome, Policy, Resolution, Write, default_policy
from .ports import Claim, ClaimSource, Intake, OutcomeRecord, ResolverStore, WriteRefused
from .resolver import InterventionResolver
from .stores import MemoryStore
from .tracker import InvoiceTracker
from .tracking import InvoiceChange, TrackedInvoice, TrackingStore

__all__ = [
    "Claim",
    "ClaimSource",
    "Decision",
    "Intake",
    "InterventionResolver",
    "InvoiceChange",
    "InvoiceTracker",
    "MemoryStore",
    "Outcome",
    "OutcomeRecord",
    "Policy",
    "PollSchedule",
    "RequestBudget",
    "Resolution",
    "ResolverStore",
    "TrackedInvoice",
    "TrackingStore",
    "Write",
    "WriteRefused",
    "default_policy",
]
