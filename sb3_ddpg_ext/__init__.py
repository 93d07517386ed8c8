"""sb3_ddpg_ext: the DDPG of Lillicrap et al. (2015), as the paper specifies it, for stable-baselines3."""

from sb3_ddpg_ext.paper_ddpg import CnnPolicy, MlpPolicy, MultiInputPolicy, PaperDDPG, PaperDDPGPolicy
from sb3_ddpg_ext.paper_ddpg.save_util import PACKAGE_VERSION as __version__  # sb3_ddpg_ext/version.txt

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "PaperDDPG", "PaperDDPGPolicy", "__version__"]
