"""Pure builders for the Data page: class-balance numbers and figures, per-class sample strips,
and the augmentation preview. No Streamlit here, so tests call them directly."""
from __future__ import annotations

import plotly.graph_objects as go
import torch

from core import augment

BALANCED_RATIO = 1.5  # max/min class count at or below which a dataset is called balanced


# ---- class balance ----------------------------------------------------------------------

def class_counts(labels: torch.Tensor, num_classes: int) -> list[int]:
    return torch.bincount(labels, minlength=num_classes).tolist()


def imbalance_note(counts: list[int], classes: list[str]) -> str:
    """One sentence on how uneven the classes are (max/min ratio), naming the extremes."""
    if not counts or sum(counts) == 0:
        return "No images, so no class balance to report."
    hi = max(range(len(counts)), key=counts.__getitem__)
    lo = min(range(len(counts)), key=counts.__getitem__)
    if counts[lo] == 0:
        return f"Class {classes[lo]} has no images at all; a model can never learn to predict it."
    ratio = counts[hi] / counts[lo]
    if ratio <= BALANCED_RATIO:
        return (f"Balanced: the largest class has {ratio:.2f}× the images of the smallest "
                f"(≤ {BALANCED_RATIO}), so plain accuracy is a fair summary.")
    return (f"Imbalanced: class {classes[hi]} has {ratio:.1f}× the images of class {classes[lo]} "
            f"({counts[hi]:,} vs {counts[lo]:,}). Look at per-class recall, not only accuracy.")


def class_distribution(classes: list[str], train: list[int], test: list[int]) -> go.Figure:
    """Grouped bars of images per class for both splits, with count and share in labels and hover."""
    fig = go.Figure()
    for split, counts, colour in (("train", train, "#4C78A8"), ("test", test, "#F58518")):
        total = max(sum(counts), 1)
        shares = [c / total for c in counts]
        fig.add_bar(
            name=f"{split} ({sum(counts):,})", x=list(classes), y=list(counts), marker_color=colour,
            customdata=shares, text=[f"{s:.1%}" for s in shares], textposition="outside",
            hovertemplate=f"class %{{x}}<br>{split}: %{{y:,}} images (%{{customdata:.1%}})<extra></extra>",
        )
    many = len(classes) > 20  # share labels on 100 bars would be unreadable
    if many:
        fig.update_traces(text=None)
    fig.update_layout(
        barmode="group", xaxis_title="class", yaxis_title="images", legend_title_text="split",
        xaxis_type="category", margin=dict(t=30, b=40, l=50, r=10), height=380,
        uniformtext_minsize=8, uniformtext_mode="hide",
    )
    return fig


# ---- samples ----------------------------------------------------------------------------

def samples_per_class(labels: torch.Tensor, num_classes: int, per_class: int) -> list[torch.Tensor]:
    """Indices of the first `per_class` images of each class (fixed, so reruns show the same ones)."""
    return [(labels == k).nonzero().flatten()[:per_class] for k in range(num_classes)]


def strip(images: torch.Tensor, gap: int = 2) -> torch.Tensor:
    """Images [N,C,H,W] side by side as one uint8 image [C,H,N*W+gaps]: one st.image per class row."""
    n, c, h, w = images.shape
    out = torch.full((c, h, n * w + (n - 1) * gap), 255, dtype=torch.uint8)
    for i in range(n):
        out[:, :, i * (w + gap):i * (w + gap) + w] = images[i]
    return out


# ---- augmentation preview -----------------------------------------------------------------

def augment_preview(images: torch.Tensor, mean, std, cfg, seed: int, repeats: int) -> list[torch.Tensor]:
    """`repeats` augmented copies of uint8 `images`, back as uint8 for display.

    The images go through the same path as in training (normalise, then `augment_batch`), so
    what is shown is what the model sees, only un-normalised.
    """
    normalise = augment.normalizer(mean, std, "cpu")
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    generator = torch.Generator().manual_seed(int(seed))
    x = normalise(images)
    out = []
    for _ in range(repeats):
        y = augment.augment_batch(x, cfg, generator, black=normalise.black)
        out.append(((y * s + m) * 255).round().clamp(0, 255).to(torch.uint8))
    return out
