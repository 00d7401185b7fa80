"""Augmentation as photos need it: whole-pixel random crops of a padded image (RandomCrop with
padding), flips, and rotation/zoom whose new pixels are black for digits or mirrored for photos."""
from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from core.augment import augment_batch, normalizer
from core.config import RunConfig

MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.25, 0.25)


def photos(n=16, size=12, seed=0):
    """Light, textured colour images (uint8) — nothing in them is near black."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, size, size, generator=g) * 80 + 170).to(torch.uint8)


def run(images, seed=1, **aug):
    norm = normalizer(MEAN, STD, "cpu")
    out = augment_batch(norm(images), RunConfig(**aug), torch.Generator().manual_seed(seed), black=norm.black)
    m, s = torch.tensor(MEAN).view(1, -1, 1, 1), torch.tensor(STD).view(1, -1, 1, 1)
    return ((out * s + m) * 255).round().clamp(0, 255).to(torch.uint8)


@pytest.mark.parametrize("pad", ["black", "reflect"])
def test_a_shift_is_a_whole_pixel_crop_of_the_padded_image_as_torchvision_pads_it(pad):
    images, p = photos(), 3
    out = run(images, aug_translate=p, aug_pad=pad)
    mode = {"black": "constant", "reflect": "reflect"}[pad]
    padded = TF.pad(images, [p, p, p, p], padding_mode=mode, fill=0)
    h, w = images.shape[-2:]
    offsets = set()
    for img, got in zip(padded, out):
        match = [(dy, dx) for dy in range(2 * p + 1) for dx in range(2 * p + 1)
                 if torch.equal(img[:, dy:dy + h, dx:dx + w], got)]
        assert match, "every image is exactly one crop: no resampling blur"
        offsets.add(match[0])
    assert len(offsets) > 4  # offsets differ from image to image


@pytest.mark.parametrize("aug", [{"aug_translate": 4}, {"aug_rotate": 30.0}, {"aug_scale": 0.3},
                                 {"aug_translate": 2, "aug_rotate": 20.0, "aug_scale": 0.2}])
def test_reflect_padding_paints_no_black_frames_on_light_photos(aug):
    images = photos()
    assert run(images, aug_pad="reflect", **aug).min() >= images.min() - 1
    # the digit default still brings in black, which is the background of a digit
    assert run(images, aug_pad="black", **aug).min() <= 10


def test_augmentation_is_reproducible_from_the_generator():
    images = photos()
    aug = {"aug_translate": 2, "aug_rotate": 10.0, "aug_hflip": True, "aug_pad": "reflect"}
    assert torch.equal(run(images, seed=5, **aug), run(images, seed=5, **aug))
    assert not torch.equal(run(images, seed=5, **aug), run(images, seed=6, **aug))


def test_black_padding_is_black_in_every_channel_not_the_images_darkest_pixel():
    # before: the pad was each image's minimum, so a light photo got light-grey frames that are
    # neither its background nor black
    images = photos()
    out = run(images, aug_translate=3, aug_pad="black")
    moved = [o for o, i in zip(out, images) if not torch.equal(o, i)]
    assert moved and all((o == 0).all(0).any() for o in moved)  # whole black pixels came in


def test_the_photo_preset_crops_reflect_padded_images():
    from core.presets import PRESETS

    cfg = PRESETS["fast_cifar10"].config
    assert cfg.aug_translate == 4 and cfg.aug_pad == "reflect" and cfg.aug_hflip
