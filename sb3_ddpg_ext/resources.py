"""Data files shipped with the package: the rl-zoo3 configs (``zoo_configs/``) and the study specs (``tuning/``).

The repository's top-level ``zoo_configs/`` and ``tuning/`` folders are the one source. An installed package carries
them as ``sb3_ddpg_ext/zoo_configs`` and ``sb3_ddpg_ext/study_specs`` (``pyproject.toml`` maps them), so they are found
from any working directory; a source checkout finds them next to the package.
"""

from pathlib import Path

from sb3_ddpg_ext.errors import UserError

_PACKAGE = Path(__file__).resolve().parent
_FOLDERS = {"zoo_configs": ("zoo_configs", "zoo_configs"), "specs": ("study_specs", "tuning")}


def data_dir(kind: str) -> Path:
    """The folder of ``kind`` ("zoo_configs" or "specs"): inside the installed package, else in the source checkout."""
    installed, checkout = _FOLDERS[kind]
    for folder in (_PACKAGE / installed, _PACKAGE.parent / checkout):
        if folder.is_dir():
            return folder
    raise UserError(f"the shipped {checkout}/ folder is missing from this installation: reinstall sb3-ddpg-ext")


def default_zoo_config() -> Path:
    """The paper's rl-zoo3 hyperparameters, ``zoo_configs/paper_ddpg.yml``."""
    return data_dir("zoo_configs") / "paper_ddpg.yml"


def her_zoo_config() -> Path:
    """The HER paper's settings for the Fetch tasks, ``zoo_configs/paper_ddpg_her.yml``."""
    return data_dir("zoo_configs") / "paper_ddpg_her.yml"


def shipped_specs() -> dict[str, Path]:
    """The shipped study specs by name, e.g. ``{"pendulum": .../pendulum.yaml}``."""
    return {p.stem: p for p in sorted(data_dir("specs").glob("*.yaml"))}


def find_spec(name_or_path: str) -> Path:
    """A study spec: an existing file path, or the name of a shipped spec (``pendulum`` or ``pendulum.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_specs()
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    if name in shipped:
        return shipped[name]
    raise UserError(f"no study spec at {name_or_path}; give a YAML path or a shipped spec name: {', '.join(shipped)}")
