"""Session-wide fixtures shared by every test directory (keep small; directories add their own)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labfixtures import lab_factory  # noqa: F401  # pylint: disable=unused-import
