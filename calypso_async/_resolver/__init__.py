"""The resolver layer: ``InterventionResolver`` and what it decides and reports.

``policy.py`` holds what a merchant's policy sees and returns; ``run.py`` is one run of
the intervention flow; ``resolver.py`` makes runs safe to start from anywhere; ``pool.py``
runs them on background workers.
"""

from .policy import Decision, Outcome, Policy, Resolution, default_policy
from .resolver import InterventionResolver

__all__ = ["Decision", "InterventionResolver", "Outcome", "Policy", "Resolution", "default_policy"]
