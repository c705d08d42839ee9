"""``python -m peekr.testing.fake_provider``."""

from __future__ import annotations

import sys

from ._cli import main

sys.exit(main())
