"""Images to model inputs: check the layout, scale to [0, 1] floats, normalise per channel.

Explained in: notebooks/00_welcome.ipynb and notebooks/01_multimodal_data.ipynb
"""

from __future__ import annotations

import torch

SHAPES_MEAN = (0.2, 0.2, 0.2)  # per-channel statistics of Shapes scenes (mostly dark background)
SHAPES_STD = (0.25, 0.25, 0.25)


def check_images(images: torch.Tensor, *, channels: int | None = 3) -> torch.Tensor:
    """Check a batch of images is ``(B, C, H, W)`` uint8 or float, and return it unchanged.

    Raises:
        TypeError: when ``images`` is not a tensor of a supported dtype.
        ValueError: for any other layout, with the shape that came and what was expected.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"expected images as a torch.Tensor (B, C, H, W), got {type(images).__name__}"
        )
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise TypeError(f"expected uint8 or float images, got dtype {images.dtype}")
    if images.ndim != 4:
        hint = " (a single image? add a batch axis with images[None])" if images.ndim == 3 else ""
        raise ValueError(f"expected images shaped (B, C, H, W), got {tuple(images.shape)}{hint}")
    if channels is not None and images.shape[1] != channels:
        raise ValueError(
            f"expected {channels} channels in images (B, C, H, W), got shape {tuple(images.shape)}"
            " (channels-last? use images.permute(0, 3, 1, 2))"
        )
    return images


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in 0..255 become floats in [0, 1]; float images pass through."""
    check_images(images, channels=None)
    return images.float() / 255 if images.dtype == torch.uint8 else images


def normalize_images(
    images: torch.Tensor,
    *,
    mean: tuple[float, ...] = SHAPES_MEAN,
    std: tuple[float, ...] = SHAPES_STD,
) -> torch.Tensor:
    """Scale to [0, 1] then subtract ``mean`` and divide by ``std`` per channel."""
    images = to_float(check_images(images, channels=len(mean)))
    mean_t = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    return (images - mean_t) / std_t


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
        steps.append(v2.Normalize(list(mean), list(std)))
        self.channels, self.pipeline = len(mean), v2.Compose(steps)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        single = isinstance(images, torch.Tensor) and images.ndim == 3
        batch = check_images(images[None] if single else images, channels=self.channels)
        out = self.pipeline(batch)  # (B, C, H', W')
        return out[0] if single else out

    def __repr__(self) -> str:
        return f"ImageTransform({self.pipeline})"
