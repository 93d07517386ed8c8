"""Peak resident memory of PaperDDPG with a full replay buffer (every page of SB3's ReplayBuffer touched).

python benchmarks/buffer_memory.py [--env HalfCheetah-v5] [--buffer-size 1000000]
"""

import argparse
import resource

import torch as th

from sb3_ddpg_ext import PaperDDPG


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--buffer-size", type=int, default=1_000_000)
    args = parser.parse_args()
    th.set_num_threads(1)
    model = PaperDDPG("MlpPolicy", args.env, buffer_size=args.buffer_size)
    model.learn(200)
    before = rss_mib()
    buffer = model.replay_buffer
    assert buffer is not None  # made by the constructor
    arrays = {
        name: getattr(buffer, name)
        for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
    }
    for array in arrays.values():
        array.fill(1)  # touch every page, as a buffer filled by 1e6 steps would
    buffer.full = True
    model.train(gradient_steps=10, batch_size=64)  # sampling from the whole buffer works
    nbytes = sum(a.nbytes for a in arrays.values())
    print(
        f"{args.env}, buffer {args.buffer_size:,}: arrays {nbytes / 2**20:.0f} MiB "
        f"({', '.join(f'{k} {a.dtype}{list(a.shape)}' for k, a in arrays.items())})"
    )
    print(f"peak RSS: {rss_mib():.0f} MiB (process with model and env before filling: {before:.0f} MiB)")


if __name__ == "__main__":
    main()
