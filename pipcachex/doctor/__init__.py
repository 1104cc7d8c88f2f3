"""``pipcachex doctor``: say why pip's cache is not doing its job, and what to run about it.

``run_doctor`` gathers facts about each pip and the caches they use (``service``), and each
check (``checks_pip``, ``checks_cache``) turns facts into ``Finding`` records with a level, a
meaning, the evidence and the fixing command. Nothing here prints or changes a cache.
"""

from pipcachex.doctor.model import Code, DoctorReport, Evidence, Finding, Level, PipSummary
from pipcachex.doctor.service import default_pythons, run_doctor

__all__ = [
    "Code",
    "DoctorReport",
    "Evidence",
    "Finding",
    "Level",
    "PipSummary",
    "default_pythons",
    "run_doctor",
]
