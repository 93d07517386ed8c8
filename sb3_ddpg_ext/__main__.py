"""``python -m sb3_ddpg_ext ...`` is the ``sb3-ddpg`` command."""

import sys

from sb3_ddpg_ext.cli import main

sys.exit(main())
