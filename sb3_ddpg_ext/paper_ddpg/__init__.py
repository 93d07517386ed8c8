from sb3_ddpg_ext.paper_ddpg.paper_ddpg import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, PaperDDPGPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "PaperDDPG", "PaperDDPGPolicy"]
