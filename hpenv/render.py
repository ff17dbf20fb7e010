"""Rendering an episode: a text log (``ansi``) and a plot of accuracy and hyper-parameters."""

from __future__ import annotations

import numpy as np

from hpenv.episodes import UNSET, hyperparameters_from_info
from hpenv.spaces import HPSpace


class Renderer:
    """Keeps the episode's history and draws it."""

    def __init__(self, hp_space: HPSpace):
        self.hp_space = hp_space
        self.history: list[dict] = []

    def start(self, info: dict) -> None:
        self.history = [{"t": 0, "reward": 0.0, **info}]

    def record(self, reward: float, info: dict) -> None:
        self.history.append({"t": len(self.history), "reward": reward, **info})

    def ansi(self) -> str:
        """One line per step so far (the reset state first)."""
        lines = []
        for h in self.history:
            hp = hyperparameters_from_info(h)
            tuple_text = " ".join(f"{k}={_fmt(hp[k])}" for k in self.hp_space.names) if hp else "(initial)"
            text = f"t={h['t']:3d} {tuple_text:<60} val_acc={h['val_accuracy']:.4f} reward={h['reward']:+.4f}"
            if hp:
                text += f" train_loss={h['train_loss']:.4f}"
            if h["diverged"]:
                text += " DIVERGED"
            if h["test_accuracy"] != UNSET:
                text += f" test_acc={h['test_accuracy']:.4f}"
            lines.append(text)
        return "\n".join(lines) + "\n"

    def rgb_array(self) -> np.ndarray:
        """An RGB image ``(H, W, 3)`` uint8: validation accuracy and each hyper-parameter over the episode."""
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        names = self.hp_space.names
        fig = Figure(figsize=(6, 1.6 * (1 + len(names))), dpi=80)
        canvas = FigureCanvasAgg(fig)
        axes = fig.subplots(1 + len(names), 1, sharex=True)
        t = [h["t"] for h in self.history]
        axes[0].plot(t, [h["val_accuracy"] for h in self.history], marker="o")
        axes[0].set_ylabel("val acc")
        for ax, name in zip(axes[1:], names):
            steps = [h for h in self.history if hyperparameters_from_info(h)]
            ax.step([h["t"] for h in steps], [h[f"hp_{name}"] for h in steps], where="post")
            ax.set_ylabel(name, fontsize=8)
            if name == "learning_rate" and steps:
                ax.set_yscale("log")
        axes[-1].set_xlabel("step")
        fig.tight_layout()
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
