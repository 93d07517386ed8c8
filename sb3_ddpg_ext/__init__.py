"""sb3_ddpg_ext: the DDPG of Lillicrap et al. (2015), as the paper specifies it, for stable-baselines3."""

from importlib.metadata import PackageNotFoundError, version

from sb3_ddpg_ext.paper_ddpg import CnnPolicy, MlpPolicy, MultiInputPolicy, PaperDDPG, PaperDDPGPolicy

try:
    __version__ = version("sb3-ddpg-ext")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "PaperDDPG", "PaperDDPGPolicy", "__version__"]
