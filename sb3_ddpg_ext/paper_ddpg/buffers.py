"""A replay buffer that samples with one torch gather per field: SB3's ``ReplayBuffer`` with float32 observations.

SB3's ``ReplayBuffer`` keeps observations in the observation space's dtype (float64 for MuJoCo) and samples with
numpy fancy indexing followed by a ``th.tensor`` copy per field; the networks then cast the float64 batch to float32
at every forward pass. This subclass keeps everything else of SB3's buffer (``add``, the index sampling and its
random draws, ``optimize_memory_usage``, timeouts, pickling for ``save_replay_buffer``), and changes two things:
- float64 observations are stored as float32 (the value the networks would have cast them to), which halves
  HalfCheetah-v5's buffer;
- ``_get_samples`` gathers each field with ``torch.index_select`` from a tensor that shares the numpy storage.
The batch is the one SB3's buffer gives for the same random state, cast to float32 as the networks cast it. With a
VecNormalize env (``env`` passed to ``sample``), it takes SB3's numpy path on the float32 observations.

``ready_to_sample`` says when updates can start; ``check_replay_buffer_memory`` refuses, before SB3 allocates it, a
buffer larger than the free memory.
"""

from typing import Any, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize


def replay_buffer_nbytes(
    observation_space: spaces.Space, action_space: spaces.Space, buffer_size: int, n_envs: int, optimize_memory_usage: bool
) -> int:
    """Bytes SB3's replay buffer allocates: observations (and next observations unless ``optimize_memory_usage``),
    actions, rewards, dones and timeouts, for ``buffer_size // n_envs`` rows of ``n_envs`` transitions."""
    rows = max(buffer_size // n_envs, 1) * n_envs
    subspaces = observation_space.spaces.values() if isinstance(observation_space, spaces.Dict) else [observation_space]
    obs = sum(int(np.prod(cast(tuple[int, ...], s.shape))) * np.dtype(s.dtype).itemsize for s in subspaces)
    obs_copies = 1 if optimize_memory_usage and not isinstance(observation_space, spaces.Dict) else 2
    action_itemsize = 4 if np.dtype(action_space.dtype) == np.float64 else np.dtype(action_space.dtype).itemsize
    return rows * (obs * obs_copies + get_action_dim(action_space) * action_itemsize + 3 * 4)


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GiB"


def check_replay_buffer_memory(
    observation_space: spaces.Space, action_space: spaces.Space, buffer_size: int, n_envs: int, optimize_memory_usage: bool
) -> None:
    """Refuse a replay buffer larger than the free memory, with the estimate and the fix, before allocating it."""
    import psutil

    nbytes = replay_buffer_nbytes(observation_space, action_space, buffer_size, n_envs, optimize_memory_usage)
    available = psutil.virtual_memory().available
    if nbytes <= available:
        return
    fits = max(int(buffer_size * available / nbytes / 2), 1)  # half the free memory: nets and envs need some
    fits = int(float(f"{fits:.1g}"))  # one significant digit
    halve = (
        ""
        if optimize_memory_usage or isinstance(observation_space, spaces.Dict)
        else (
            ", or optimize_memory_usage=True with replay_buffer_kwargs=dict(handle_timeout_termination=False) "
            "(one copy of the observations instead of two)"
        )
    )
    raise MemoryError(
        f"PaperDDPG: a replay buffer of buffer_size={buffer_size} needs {_gib(nbytes)} but {_gib(available)} "
        f"is available: lower buffer_size (e.g. buffer_size={fits}){halve}"
    )


def ready_to_sample(buffer: ReplayBuffer, batch_size: int, n_envs: int) -> bool:
    """Whether Algorithm 1 can sample a minibatch: ``batch_size`` transitions stored (the paper updates from then on),
    and for SB3's ``HerReplayBuffer`` an episode finished too, since HER samples finished episodes only (SB3 raises
    before; rl-zoo3 avoids it with ``learning_starts``, which the paper does not have)."""
    if buffer.size() * n_envs < batch_size:
        return False
    return not isinstance(buffer, HerReplayBuffer) or bool(np.any(buffer.ep_length > 0))


# SB3's buffers allocate their arrays for the whole capacity; pickle writes every byte of them. A checkpoint of a
# buffer that has not wrapped yet saves the rows written (``checkpoint.save_replay_buffer_rows``), and these restore
# the capacity on load. The rows: ``pos`` of them, and one more, where optimize_memory_usage keeps the last next
# observation. A Dict buffer's observations are a dict of such arrays; HER adds its episode bounds and infos.
ROW_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts", "ep_start", "ep_length", "infos")
SAVED_ROWS = "_saved_rows"  # in a buffer saved with its rows only
RowArray = np.ndarray | dict[str, np.ndarray]


def row_arrays(buffer: ReplayBuffer) -> dict[str, RowArray]:
    """The buffer's arrays indexed by row first (:data:`ROW_ARRAYS` that it has)."""
    return {name: value for name in ROW_ARRAYS if isinstance(value := buffer.__dict__.get(name), (np.ndarray, dict))}


def first_rows(array: RowArray, rows: int) -> RowArray:
    """Views of the first ``rows`` rows: pickle writes those only."""
    return {key: a[:rows] for key, a in array.items()} if isinstance(array, dict) else array[:rows]


def _grown(saved: np.ndarray, capacity: int) -> np.ndarray:
    """``saved`` followed by rows as SB3 allocates them (zeros; HER's infos: empty dicts), ``capacity`` rows in all."""
    grown = np.zeros((capacity, *saved.shape[1:]), dtype=saved.dtype)
    if saved.dtype == object:
        grown[len(saved) :] = np.frompyfunc(lambda _: {}, 1, 1)(grown[len(saved) :])
    grown[: len(saved)] = saved
    return grown


def restore_capacity(buffer: ReplayBuffer) -> ReplayBuffer:
    """A buffer saved with its written rows only, its arrays grown back to ``buffer_size`` rows (as SB3 allocates them
    after them); any other buffer as it is."""
    state = buffer.__dict__
    rows = state.pop(SAVED_ROWS, None)
    if rows is not None:
        for name, saved in row_arrays(buffer).items():
            if isinstance(saved, dict):
                state[name] = {key: _grown(a, buffer.buffer_size) if len(a) == rows else a for key, a in saved.items()}
            elif len(saved) == rows:
                state[name] = _grown(saved, buffer.buffer_size)
    return buffer


class Float32ReplayBuffer(ReplayBuffer):
    """SB3's ReplayBuffer with float64 observations stored as float32 and torch-side sampling (same arguments)."""

    _TENSOR_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Box,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
    ) -> None:
        if not isinstance(observation_space, spaces.Box):
            raise ValueError(f"Float32ReplayBuffer needs a Box observation space, got {observation_space}")
        if observation_space.dtype == np.float64:  # the buffer's arrays take the space's dtype
            low, high = (bound.astype(np.float32) for bound in (observation_space.low, observation_space.high))
            observation_space = spaces.Box(low, high, observation_space.shape, dtype=np.float32)
        super().__init__(
            buffer_size, observation_space, action_space, device, n_envs, optimize_memory_usage, handle_timeout_termination
        )
        self._make_views()

    def _make_views(self) -> None:
        """(buffer_size * n_envs, ...) tensors sharing memory with the numpy arrays that ``add`` writes."""
        self._views = {
            name: th.from_numpy(getattr(self, name)).reshape(self.buffer_size * self.n_envs, -1)
            for name in self._TENSOR_FIELDS
            if hasattr(self, name)
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_views"]  # rebuilt on load from the numpy arrays, so the two keep sharing memory
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        restore_capacity(self)  # before the views, which span the capacity
        self._make_views()

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> ReplayBufferSamples:
        if env is not None:
            return super()._get_samples(batch_inds, env)
        env_indices = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))  # SB3's draw, in SB3's order
        rows = th.from_numpy(batch_inds * self.n_envs + env_indices)
        v = self._views
        if self.optimize_memory_usage:
            next_rows = th.from_numpy((batch_inds + 1) % self.buffer_size * self.n_envs + env_indices)
            next_obs = v["observations"].index_select(0, next_rows)
        else:
            next_obs = v["next_observations"].index_select(0, rows)
        obs_shape = (-1, *self.obs_shape)
        data = (
            v["observations"].index_select(0, rows).reshape(obs_shape),
            v["actions"].index_select(0, rows),
            next_obs.reshape(obs_shape),
            v["dones"].index_select(0, rows) * (1 - v["timeouts"].index_select(0, rows)),
            v["rewards"].index_select(0, rows),
        )
        return ReplayBufferSamples(*(x.to(self.device) for x in data))
