"""Photos the abstention gate must refuse, rendered procedurally (no downloads, CC0 like the synthetic set).

    from skinfindings.data.nonskin import OUT_OF_SCOPE, BAD_PHOTOS, out_of_scope_file, bad_photo_file
    data = out_of_scope_file("document", seed=3)          # file bytes, as a patient would upload them
    data = bad_photo_file(skin_pixels, "defocused", seed=3)  # a good skin photo, spoiled

Two families:

* out of scope (not a photo of skin): a text page (scanned or photographed), a phone
  screenshot, a landscape, pet fur, a plate of food, a painted or brick wall;
* bad photos of skin: out of focus, shaken (motion blur along one axis), too dark,
  overexposed, glare from a flash, heavily JPEG-compressed, tiny.

``EXPECTED[kind]`` is the gate reason each kind should trigger. These renders are a
stand-in for the real thing: they test the gate's rules, they cannot show how it does
on the variety of real uploads (docs/gate.md says so next to every number).
"""

from __future__ import annotations

import io
import math
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from skinfindings.data.synth_skin import fbm, smoothstep

OUT_OF_SCOPE = ("document", "screenshot", "landscape", "pet_fur", "food", "wall")
BAD_PHOTOS = ("defocused", "shaken", "dark", "overexposed", "glare", "heavy_jpeg", "tiny")
EXPECTED: dict[str, str] = {
    **{kind: "not_skin" for kind in OUT_OF_SCOPE},
    "defocused": "blurred",
    "shaken": "blurred",
    "dark": "too_dark",
    "overexposed": "too_bright",
    "glare": "glare",
    "heavy_jpeg": "compressed",
    "tiny": "too_small",
}

WORDS = ("the", "patient", "aftercare", "apply", "twice", "daily", "avoid", "sun", "exposure", "cream", "clinic",
         "appointment", "follow", "treatment", "laser", "skin", "days", "after", "wash", "gently", "contact", "your")


def _rgb(pixels: np.ndarray) -> np.ndarray:
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _camera(rng: np.random.Generator, pixels: np.ndarray, noise: float = 3.0) -> np.ndarray:
    """What a phone adds to any scene: uneven light, vignetting, a little softness and sensor noise."""
    size = pixels.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    angle = rng.uniform(0, 2 * math.pi)
    light = 1 + rng.uniform(0.0, 0.25) * (xs * math.cos(angle) + ys * math.sin(angle))
    light *= 1 - rng.uniform(0.0, 0.5) * (xs * xs + ys * ys)
    image = Image.fromarray(_rgb(pixels * light[..., None])).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    shot = np.asarray(image, np.float32) + rng.normal(0, noise, pixels.shape)
    return _rgb(shot)


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_lines(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple[int, int, int, int],
                size: int, colour: tuple[int, int, int]) -> None:
    left, top, right, bottom = box
    font = _font(size)
    y = top
    while y + size < bottom:
        words = " ".join(rng.choice(WORDS, int(rng.integers(4, 12))))
        draw.text((left, y), words.capitalize(), fill=colour, font=font)
        y += int(size * rng.uniform(1.4, 1.8))
        if rng.random() < 0.15:
            y += size  # paragraph break


def render_document(rng: np.random.Generator, size: int) -> np.ndarray:
    """A printed page: scanned (clean) or photographed at an angle on a desk."""
    paper = tuple(int(v) for v in rng.uniform(235, 255, 3))
    page = Image.new("RGB", (size, size), paper)
    draw = ImageDraw.Draw(page)
    margin = int(size * rng.uniform(0.05, 0.12))
    heading = int(size * rng.uniform(0.05, 0.08))
    draw.text((margin, margin), "Aftercare instructions", fill=(20, 20, 20), font=_font(heading))
    ink = tuple(int(v) for v in rng.uniform(0, 60, 3))
    _text_lines(draw, rng, (margin, margin + 2 * heading, size - margin, size - margin),
                int(size * rng.uniform(0.025, 0.045)), ink)
    if rng.random() < 0.5:
        return np.asarray(page)  # a scan or an exported page
    desk = np.array(rng.uniform(60, 160, 3), np.float32) * (1 + 0.1 * fbm(rng, size, 6, 3))[..., None]
    inner = int(size * rng.uniform(0.8, 0.95))
    tilted = page.convert("RGBA").resize((inner, inner), Image.Resampling.BILINEAR).rotate(
        rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR, expand=True)
    scene = Image.fromarray(_rgb(desk))
    offset = tuple(int(rng.integers(-inner // 10, max(1, size - tilted.width + inner // 10))) for _ in range(2))
    scene.paste(tilted, offset, tilted)
    return _camera(rng, np.asarray(scene, np.float32))


def render_screenshot(rng: np.random.Generator, size: int) -> np.ndarray:
    """A phone screen: flat colours, a bar, buttons, text, an icon row; no camera (it is digital)."""
    dark = rng.random() < 0.35
    background = (18, 18, 22) if dark else (250, 250, 252)
    text = (230, 230, 235) if dark else (30, 30, 35)
    accent = tuple(int(v) for v in rng.choice([[0, 122, 255], [52, 199, 89], [255, 59, 48], [88, 86, 214],
                                               [255, 149, 0], [37, 211, 102]]))
    screen = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(screen)
    bar = int(size * 0.1)
    draw.rectangle((0, 0, size, bar), fill=accent)
    draw.text((int(size * 0.05), int(bar * 0.25)), "Messages", fill=(255, 255, 255), font=_font(int(bar * 0.5)))
    y = bar + int(size * 0.04)
    while y < size * 0.85:
        if rng.random() < 0.5:  # a chat bubble or card
            width = int(size * rng.uniform(0.4, 0.85))
            height = int(size * rng.uniform(0.06, 0.14))
            left = int(size * 0.04) if rng.random() < 0.5 else size - width - int(size * 0.04)
            fill = accent if rng.random() < 0.5 else ((60, 60, 66) if dark else (229, 229, 234))
            draw.rounded_rectangle((left, y, left + width, y + height), radius=int(height * 0.3), fill=fill)
            draw.text((left + 8, y + height // 4), " ".join(rng.choice(WORDS, 4)), fill=text,
                      font=_font(max(8, height // 3)))
            y += height + int(size * 0.03)
        else:
            _text_lines(draw, rng, (int(size * 0.05), y, size - int(size * 0.05), y + int(size * 0.1)),
                        int(size * 0.03), text)
            y += int(size * 0.12)
    for i in range(4):  # icon row
        cx = int(size * (0.15 + 0.23 * i))
        draw.ellipse((cx - size // 25, int(size * 0.92) - size // 25, cx + size // 25, int(size * 0.92) + size // 25),
                     fill=tuple(int(v) for v in rng.uniform(40, 255, 3)))
    return np.asarray(screen)


def render_landscape(rng: np.random.Generator, size: int) -> np.ndarray:
    """Sky, clouds, a hill line and grass, sand, rock or water below it."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    top, horizon_sky = np.array([70, 120, 200], np.float32), np.array([170, 200, 235], np.float32)
    sky = top + (horizon_sky - top) * ys[..., None]
    clouds = smoothstep(0.3, 1.5, fbm(rng, size, 3, 5, stretch=2.5))[..., None]
    sky = sky * (1 - clouds) + 245 * clouds
    ridge = rng.uniform(0.3, 0.6) + 0.08 * np.interp(xs[0], np.linspace(0, 1, 9), rng.normal(0, 1, 9))
    ground_kind = rng.choice(["grass", "sand", "rock", "water", "forest"])
    colour = {"grass": (70, 130, 50), "sand": (215, 190, 140), "rock": (120, 115, 110), "water": (40, 90, 140),
              "forest": (30, 70, 35)}[ground_kind]
    texture = fbm(rng, size, 40, 4)
    ground = np.array(colour, np.float32) * (1 + 0.18 * texture)[..., None] * (0.8 + 0.4 * ys)[..., None]
    below = (ys > ridge[None, :])[..., None]
    return _camera(rng, np.where(below, ground, sky))


def render_pet_fur(rng: np.random.Generator, size: int) -> np.ndarray:
    """A close-up of fur: many short strands following a smooth flow, in a coat colour, maybe striped."""
    coats = {"black": (35, 30, 28), "white": (235, 232, 225), "grey": (130, 130, 135), "ginger": (205, 120, 50),
             "brown": (110, 70, 40), "golden": (215, 165, 90), "cream": (225, 205, 170)}
    name = str(rng.choice(list(coats)))
    base = np.array(coats[name], np.float32)
    image = Image.fromarray(_rgb(np.broadcast_to(base * 0.7, (size, size, 3)).copy()))
    draw = ImageDraw.Draw(image)
    flow = fbm(rng, size, 2, 2) * 0.8 + rng.uniform(0, 2 * math.pi)
    stripes = 0.5 + 0.5 * np.sin(np.linspace(0, rng.uniform(4, 10), size) * math.pi) if rng.random() < 0.4 else None
    length = size * rng.uniform(0.04, 0.09)
    for _ in range(int(size * size / 40)):
        x, y = rng.uniform(0, size, 2)
        angle = flow[int(y), int(x)]
        shade = rng.uniform(0.6, 1.3)
        if stripes is not None:
            shade *= 0.45 + 0.75 * stripes[int(x)]
        colour = tuple(int(v) for v in np.clip(base * shade, 0, 255))
        end = (x + length * math.cos(angle), y + length * math.sin(angle))
        draw.line((x, y, *end), fill=colour, width=1 + int(rng.random() < 0.3))
    return _camera(rng, np.asarray(image, np.float32))


def render_food(rng: np.random.Generator, size: int) -> np.ndarray:
    """A plate of food on a wooden table, seen from above."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    grain = np.sin((ys + 0.05 * fbm(rng, size, 3, 3)) * size * rng.uniform(0.15, 0.4))
    wood = np.array(rng.choice([[150, 100, 60], [95, 60, 35], [190, 160, 120]]), np.float32)
    table = wood * (1 + 0.12 * grain)[..., None]
    image = Image.fromarray(_rgb(table))
    draw = ImageDraw.Draw(image)
    radius = size * rng.uniform(0.35, 0.48)
    cx, cy = size / 2 + rng.normal(0, size * 0.05, 2)
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(240, 240, 236))
    palette = [(60, 140, 40), (200, 30, 25), (240, 190, 40), (150, 80, 30), (245, 235, 210), (90, 40, 20), (230, 110, 30)]
    for _ in range(int(rng.integers(8, 40))):
        r = radius * rng.uniform(0.05, 0.3)
        angle, dist = rng.uniform(0, 2 * math.pi), radius * 0.7 * math.sqrt(rng.random())
        x, y = cx + dist * math.cos(angle), cy + dist * math.sin(angle)
        base = np.array(palette[int(rng.integers(len(palette)))])
        colour = tuple(int(v) for v in np.clip(base * rng.uniform(0.8, 1.1), 0, 255))
        draw.ellipse((x - r, y - r * rng.uniform(0.5, 1), x + r, y + r * rng.uniform(0.5, 1)), fill=colour)
    return _camera(rng, np.asarray(image, np.float32))


def render_wall(rng: np.random.Generator, size: int) -> np.ndarray:
    """A painted wall (any paint, beige included) or a brick wall, under room light."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if rng.random() < 0.3:
        brick = np.array(rng.choice([[150, 70, 50], [170, 100, 70], [120, 60, 45]]), np.float32)
        rows = (ys * rng.uniform(8, 14)) % 1.0
        offset = np.floor(ys * rng.uniform(8, 14)) % 2 * 0.5
        cols = (xs * rng.uniform(3, 6) + offset) % 1.0
        mortar = (rows < 0.1) | (cols < 0.04)
        wall = np.where(mortar[..., None], np.float32(200), brick * (1 + 0.15 * fbm(rng, size, 30, 3))[..., None])
    else:
        paints = [(240, 238, 232), (225, 215, 195), (200, 200, 205), (180, 200, 215), (205, 220, 200),
                  (235, 215, 185), (120, 130, 140), (230, 200, 190)]
        paint = np.array(paints[int(rng.integers(len(paints)))], np.float32)
        wall = paint * (1 + 0.02 * fbm(rng, size, 60, 2))[..., None] * (1 - 0.25 * ys)[..., None]
    return _camera(rng, wall, noise=rng.uniform(1.5, 4.0))


RENDERERS = {
    "document": render_document,
    "screenshot": render_screenshot,
    "landscape": render_landscape,
    "pet_fur": render_pet_fur,
    "food": render_food,
    "wall": render_wall,
}
assert tuple(RENDERERS) == OUT_OF_SCOPE


def render_out_of_scope(kind: str, seed: int, size: int = 384) -> np.ndarray:
    """HxWx3 uint8 image of an out-of-scope scene."""
    return RENDERERS[kind](np.random.default_rng([seed, zlib.crc32(kind.encode())]), size)


def encode(pixels: np.ndarray, image_format: str = "JPEG", quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    options = {"quality": quality} if image_format == "JPEG" else {}
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def out_of_scope_file(kind: str, seed: int, size: int = 384) -> bytes:
    """The file a patient might send by mistake: screenshots are PNG, everything else a phone JPEG."""
    pixels = render_out_of_scope(kind, seed, size)
    return encode(pixels, "PNG") if kind == "screenshot" else encode(pixels, "JPEG", 90)


# ----------------------------------------------------------------------------- bad photos of skin


def _shake(pixels: np.ndarray, length: int, axis: int) -> np.ndarray:
    """Camera shake: the average of ``length`` copies shifted along one axis (edges repeated)."""
    pad = [(0, 0)] * pixels.ndim
    pad[axis] = (length // 2 + 1, length - length // 2 - 1)
    total = np.cumsum(np.pad(pixels, pad, mode="edge"), axis=axis, dtype=np.float64)
    n = pixels.shape[axis]
    upper = np.take(total, np.arange(length, length + n), axis=axis)
    lower = np.take(total, np.arange(0, n), axis=axis)
    return ((upper - lower) / length).astype(np.float32)


def _defocused(rng: np.random.Generator, image: Image.Image) -> np.ndarray:
    """Out of focus: a blur 2-4 % of the frame across; sensor noise is added after it, as in a camera."""
    blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(min(image.size) * rng.uniform(0.02, 0.04))), np.float32)
    return _rgb(blurred + rng.normal(0, 1.5, blurred.shape))


def _shaken(rng: np.random.Generator, image: Image.Image) -> np.ndarray:
    """Camera shake: a streak 5-9 % of the frame long along one axis, then sensor noise."""
    length = max(3, int(min(image.size) * rng.uniform(0.05, 0.09)))
    blurred = _shake(np.asarray(image, np.float32), length, int(rng.integers(2)))
    return _rgb(blurred + rng.normal(0, 1.5, blurred.shape))


def _exposure(rng: np.random.Generator, image: Image.Image, level: float, noise: float) -> Image.Image:
    """Re-expose so the median linear brightness lands at ``level`` (1 = white): far too dark
    or far too bright whatever the skin tone, which a fixed gain would not be."""
    linear = (np.asarray(image, np.float32) / 255.0) ** 2.2
    linear *= level / max(float(np.median(linear)), 1e-4)
    srgb = np.clip(linear, 0, 1) ** (1 / 2.2) * 255 + rng.normal(0, noise, (*image.size[::-1], 3))
    return Image.fromarray(_rgb(srgb))


def _glare(rng: np.random.Generator, image: Image.Image) -> Image.Image:
    """A flash reflection: a large blown-out patch over part of the photo."""
    w, h = image.size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    radius = rng.uniform(0.3, 0.45) * min(w, h)
    blob = smoothstep(1.3, 0.7, np.hypot(xs - cx, ys - cy) / radius)[..., None]
    pixels = np.asarray(image, np.float32)
    return Image.fromarray(_rgb(pixels * (1 - blob) + 255 * blob + 60 * blob))


def bad_photo_file(skin: np.ndarray, kind: str, seed: int) -> bytes:
    """A good skin photo (HxWx3 uint8) spoiled the way ``kind`` says, as file bytes."""
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode())])  # per kind, whatever the list's order
    image = Image.fromarray(np.ascontiguousarray(skin, np.uint8))
    if kind == "defocused":
        return encode(_defocused(rng, image))
    if kind == "shaken":
        return encode(_shaken(rng, image))
    if kind == "dark":
        return encode(np.asarray(_exposure(rng, image, rng.uniform(0.001, 0.006), 2.0)))
    if kind == "overexposed":
        return encode(np.asarray(_exposure(rng, image, rng.uniform(1.0, 3.0), 1.0)))
    if kind == "glare":
        return encode(np.asarray(_glare(rng, image)))
    if kind == "heavy_jpeg":
        # Messaging apps shrink and recompress; the blocks are visible at the model's scale.
        side = int(rng.integers(224, 320))
        return encode(np.asarray(image.resize((side, side), Image.Resampling.BILINEAR)), "JPEG",
                      int(rng.integers(2, 7)))
    if kind == "tiny":
        side = int(rng.integers(40, 90))
        return encode(np.asarray(image.resize((side, side), Image.Resampling.BILINEAR)), "JPEG", 90)
    raise ValueError(f"unknown bad-photo kind {kind!r}; known: {BAD_PHOTOS}")
