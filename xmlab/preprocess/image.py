"""Images to model inputs: check the layout, scale to [0, 1] floats, normalise per channel.

Explained in: notebooks/00_welcome.ipynb and notebooks/01_multimodal_data.ipynb
"""

from __future__ import annotations

import torch

from xmlab import checks

SHAPES_MEAN = (0.2, 0.2, 0.2)  # per-channel statistics of Shapes scenes (mostly dark background)
SHAPES_STD = (0.25, 0.25, 0.25)


def check_images(images: torch.Tensor, *, channels: int | None = 3) -> torch.Tensor:
    """Check a batch of images is ``(B, C, H, W)`` uint8 or float, and return it unchanged.

    Raises:
        TypeError: when ``images`` is not a tensor of a supported dtype.
        ValueError: for any other layout, with the shape that came and what was expected.
    """
    return checks.image_batch(images, channels=channels)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in 0..255 become floats in [0, 1]; float images (finite, in [0, 1]) pass
    through."""
    check_images(images, channels=None)
    if images.dtype == torch.uint8:
        return images.float() / 255
    checks.finite(images, "the images' pixels", fix="replace them, e.g. torch.nan_to_num(images)")
    low, high = torch.aminmax(images) if images.numel() else (torch.tensor(0), torch.tensor(1))
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(
            f"float images must hold values in [0, 1], got values from {low.item():.3g} to "
            f"{high.item():.3g}: pass uint8 pixels 0..255, divide 0..255 floats by 255, and "
            "normalise only once"
        )
    return images


def normalize_images(
    images: torch.Tensor,
    *,
    mean: tuple[float, ...] = SHAPES_MEAN,
    std: tuple[float, ...] = SHAPES_STD,
) -> torch.Tensor:
    """Scale to [0, 1] then subtract ``mean`` and divide by ``std`` per channel."""
    _check_statistics(mean, std)
    images = to_float(check_images(images, channels=len(mean)))
    mean_t = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    return (images - mean_t) / std_t


def _check_statistics(mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    """One mean and one positive standard deviation per channel."""
    if len(mean) != len(std):
        raise ValueError(
            f"got {len(mean)} channel means but {len(std)} standard deviations: give one of "
            "each per channel, e.g. mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)"
        )
    fix = "dividing by it gives infinite pixels; pass each channel's standard deviation"
    for value in std:
        checks.number(value, f"every std (std={tuple(std)})", above=0, fix=fix)


class ImageTransform:
    """torchvision ``transforms.v2`` pipeline: to float in [0, 1], optional augmentation,
    optional resize, per-channel normalisation. Works on ``(C, H, W)`` or ``(B, C, H, W)``.

    Augmentation here must not change what a caption says: no horizontal flip (it would turn
    "left of" into a lie) and no hue jitter (it would change "red"); a small shift and a little
    brightness/contrast jitter keep every caption true. On a batch, v2 draws one set of random
    parameters for the whole batch; transform single samples for per-sample augmentation.

    Args:
        augment: add the random shift and brightness/contrast jitter.
        size: resize to ``size`` x ``size`` pixels (None keeps the size).
        mean, std: per-channel statistics to normalise with.
        fill: value in [0, 1] of the pixels a shift uncovers (0.12 is the Shapes background).
    """

    def __init__(
        self,
        *,
        augment: bool = False,
        size: int | None = None,
        mean: tuple[float, ...] = SHAPES_MEAN,
        std: tuple[float, ...] = SHAPES_STD,
        fill: float = 0.0,
    ):
        from torchvision.transforms import v2

        steps = [v2.ToDtype(torch.float32, scale=True)]
        if augment:
            steps += [
                v2.RandomAffine(degrees=0, translate=(0.06, 0.06), fill=fill),
                v2.ColorJitter(brightness=0.2, contrast=0.2),
            ]
        if size is not None:
            steps.append(v2.Resize((size, size), antialias=True))
        _check_statistics(mean, std)
        steps.append(v2.Normalize(list(mean), list(std)))
        self.channels, self.pipeline = len(mean), v2.Compose(steps)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        single = isinstance(images, torch.Tensor) and images.ndim == 3
        batch = check_images(images[None] if single else images, channels=self.channels)
        if batch.is_floating_point():
            checks.finite(batch, "the images' pixels", fix="replace them, e.g. torch.nan_to_num")
        out = self.pipeline(batch)  # (B, C, H', W')
        return out[0] if single else out

    def __repr__(self) -> str:
        return f"ImageTransform({self.pipeline})"
