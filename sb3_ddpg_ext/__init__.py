"""sb3_ddpg_ext: the DDPG of Lillicrap et al. (2015), as the paper specifies it, for stable-baselines3.

``from sb3_ddpg_ext import PaperDDPG`` imports the algorithm (torch, SB3) on first use, not with the package: the
``sb3-ddpg`` command answers ``--help`` and argument errors at once, and a Ctrl-C during those imports is its one
line, not a traceback.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sb3_ddpg_ext.paper_ddpg import CnnPolicy, MlpPolicy, MultiInputPolicy, PaperDDPG, PaperDDPGPolicy

__version__ = (Path(__file__).resolve().parent / "version.txt").read_text().strip()
__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "PaperDDPG", "PaperDDPGPolicy", "__version__"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sb3_ddpg_ext import paper_ddpg

        return getattr(paper_ddpg, name)
    raise AttributeError(f"module 'sb3_ddpg_ext' has no attribute {name!r}")
