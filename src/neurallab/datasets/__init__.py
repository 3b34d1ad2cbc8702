"""Data sets: the tutorial's, and (chapter 8) images."""

from __future__ import annotations

from .tutorial import SCORE_SCALE, sleep_study, sleep_study_extended

__all__ = ["sleep_study", "sleep_study_extended", "SCORE_SCALE"]
