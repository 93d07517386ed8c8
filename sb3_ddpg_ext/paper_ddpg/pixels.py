"""The paper's settings for learning from pixels (section 7), as PaperDDPG constructor arguments.

Minibatch 16 and no batch norm (CnnPolicy's default); replay stored as uint8 observations. The paper's 1e6
transitions of 9x64x64 bytes would be 37 GB. 1e5 transitions are 3.7 GB with SB3's optimize_memory_usage (each next
observation is the following row, not a second copy), half a 8 GB machine's memory, and 300k simulator steps at action
repeat 3: more than any run in docs/results.md, so the buffer never wraps there. SB3 allows optimize_memory_usage
only with handle_timeout_termination=False: a time-limit truncation is stored as a terminal transition (no
bootstrap), which the low-dimensional default avoids.
"""

from typing import Any

PIXEL_BATCH_SIZE = 16
PIXEL_BUFFER_SIZE = 100_000


def pixel_hyperparameters(buffer_size: int = PIXEL_BUFFER_SIZE) -> dict[str, Any]:
    """The paper's pixel settings (section 7) as constructor arguments, replay size ``buffer_size``.

    ``PaperDDPG("CnnPolicy", make_pixel_env("Pendulum-v1"), **PaperDDPG.pixel_hyperparameters())``.
    """
    return dict(
        batch_size=PIXEL_BATCH_SIZE,
        buffer_size=buffer_size,
        optimize_memory_usage=True,
        replay_buffer_kwargs=dict(handle_timeout_termination=False),
    )
