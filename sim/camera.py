"""Simulated tally camera: frames that show a load's label, as a real camera would.

Labels are encoded with zxing-cpp (the same library the tally reads with:
`zxingcpp.create_barcode` + `write_barcode_to_image`, 3.x API) as QR Code, DataMatrix
or Code 128, put on a white card, and composited onto a grey, uneven coil or pallet
surface with the degradations a yard camera sees: rotation, perspective, blur,
glare, partial occlusion (a strap or a glove across the label), uneven light and
sensor noise. Everything is drawn from one seeded numpy generator, so a frame
sequence is reproducible from (seed, calls).

Faults for the simulator: `swap_with` shows another load's label (the "swap label"
fault), `second_label` puts a second label in the same frame (duplicate label).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw, ImageFilter

LABEL_PREFIX = "LD:"  # what a load label encodes before the load id
FORMATS = {
    "qr": zxingcpp.BarcodeFormat.QRCode,
    "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
    "code128": zxingcpp.BarcodeFormat.Code128,
}


def label_text(load_id: str) -> str:
    return f"{LABEL_PREFIX}{load_id}"


@dataclass(frozen=True)
class Degradation:
    """Ranges the camera draws each frame's distortions from (uniform in [0, max])."""

    rotation_deg: float = 30.0  # +/- this
    perspective: float = 0.06  # corner jitter, as a share of the label size
    blur_px: float = 1.0  # Gaussian blur radius
    glare: float = 0.45  # peak brightness added by a specular highlight (0..1)
    occlusion: float = 0.12  # share of the label covered: a strap (QR, Code 128), a smudge (DataMatrix)
    noise: float = 6.0  # sensor noise sigma, grey levels
    light: float = 0.3  # uneven light: darkening towards one side (0..1)
    scale_px: tuple[int, int] = (3, 4)  # pixels per module (min, max)


CLEAN = Degradation(rotation_deg=0.0, perspective=0.0, blur_px=0.0, glare=0.0, occlusion=0.0,
                    noise=0.0, light=0.0, scale_px=(4, 4))
DEFAULT = Degradation()


@dataclass
class Frame:
    image: np.ndarray  # uint8 (height, width), grayscale
    image_id: str
    shown: tuple[str, ...]  # label texts drawn in the frame (ground truth)
    format: str
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelFaults:
    """Rates of label faults a simulated tally camera injects (for `Camera.tally_frame`)."""

    swap: float = 0.0  # another load's label is on this load ("swap label")
    missing: float = 0.0  # the label is gone or torn off (a blank card)
    second: float = 0.0  # a second, different label in view


class Camera:
    """One tally camera (on a crane hook, an AGV fork or a gate); frames on request."""

    def __init__(self, camera_id: str = "CAM1", seed: int = 0, size: tuple[int, int] = (480, 360),
                 degradation: Degradation = DEFAULT) -> None:
        self.camera_id = camera_id
        self.rng = np.random.default_rng(seed)
        self.size = size
        self.degradation = degradation
        self.seq = 0
        self._cache: dict[tuple[str, str, int], np.ndarray] = {}

    def frame(self, load_id: str, fmt: str = "qr", *, degraded: bool = True,
              swap_with: str | None = None, second_label: str | None = None,
              blank: bool = False) -> Frame:
        """A frame showing `load_id`'s label (or `swap_with`'s, for the swap fault).

        `blank=True` shows the card with no label (lost or torn label).
        """
        if fmt not in FORMATS:
            raise ValueError(f"unknown label format {fmt!r} (known: {', '.join(FORMATS)})")
        deg = self.degradation if degraded else CLEAN
        self.seq += 1
        w, h = self.size
        canvas = self._background(w, h)
        shown: list[str] = []
        texts = [] if blank else [label_text(swap_with or load_id)]
        if second_label:
            texts.append(label_text(second_label))
        params: dict[str, float] = {}
        if blank:
            texts_or_blank: list[str | None] = [None]
        else:
            texts_or_blank = list(texts)
        n = len(texts_or_blank)
        for k, text in enumerate(texts_or_blank):
            centre = ((k + 0.5) * w / n, h / 2) if n > 1 else (w / 2, h / 2)
            params = self._draw(canvas, text, fmt, deg, centre, max_side=min(w / n, h) * 0.8)
            if text is not None:
                shown.append(text)
        img = canvas
        if deg.blur_px > 0:
            r = float(self.rng.uniform(0, deg.blur_px))
            params["blur_px"] = r
            if r > 0.05:
                img = img.filter(ImageFilter.GaussianBlur(r))
        arr = np.asarray(img, dtype=np.float32)
        arr = self._light(arr, deg, params)
        if deg.noise > 0:
            arr += self.rng.normal(0.0, deg.noise, arr.shape).astype(np.float32)
        out = np.clip(arr, 0, 255).astype(np.uint8)
        return Frame(out, f"{self.camera_id}-{self.seq:08d}", tuple(shown), fmt, params)

    def tally_frame(self, load_id: str, fmt: str = "qr", faults: LabelFaults = LabelFaults(),
                    others: tuple[str, ...] = ()) -> Frame:
        """A degraded frame of `load_id` with faults drawn at `faults`' rates.

        `others` are ids of other loads nearby (what a swapped or second label shows);
        `Frame.shown` tells the truth, for the simulator's bookkeeping.
        """
        other = str(self.rng.choice(list(others))) if others else f"{load_id}-X"
        u = float(self.rng.random())
        if u < faults.swap:
            return self.frame(load_id, fmt, swap_with=other)
        if u < faults.swap + faults.missing:
            return self.frame(load_id, fmt, blank=True)
        if u < faults.swap + faults.missing + faults.second:
            return self.frame(load_id, fmt, second_label=other)
        return self.frame(load_id, fmt)

    # ----- drawing
    def _background(self, w: int, h: int) -> Image.Image:
        base = float(self.rng.uniform(70, 150))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = float(self.rng.uniform(0, 2 * math.pi))
        ripple = 12.0 * np.sin((xx * math.cos(a) + yy * math.sin(a)) / float(self.rng.uniform(6, 14)))
        return Image.fromarray(np.clip(base + ripple, 0, 255).astype(np.uint8), mode="L")

    def _label(self, text: str | None, fmt: str, scale: int) -> np.ndarray:
        key = (text or "", fmt, scale)
        if key not in self._cache:
            if text is None:
                card = np.full((40 * scale, 40 * scale), 255, dtype=np.uint8)
            else:
                kwargs: dict[str, object] = {"ec_level": "H"} if fmt == "qr" else {}
                if fmt == "datamatrix":
                    kwargs["force_square"] = True  # square symbols survive tilt and smudges better
                bc = zxingcpp.create_barcode(text, FORMATS[fmt], **kwargs)
                sym = np.asarray(zxingcpp.write_barcode_to_image(bc, scale=scale, add_quiet_zones=True))
                if fmt == "code128":
                    sym = np.repeat(sym[:1], int(sym.shape[1] * 0.65), axis=0)  # tall: readable when tilted
                pad = 2 * scale
                card = np.pad(sym, pad, constant_values=255)
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[key] = card
        return self._cache[key]

    def _draw(self, canvas: Image.Image, text: str | None, fmt: str, deg: Degradation,
              centre: tuple[float, float], max_side: float) -> dict[str, float]:
        rng = self.rng
        scale = int(rng.integers(deg.scale_px[0], deg.scale_px[1] + 1))
        card = self._label(text, fmt, scale).copy()
        ch, cw = card.shape
        params: dict[str, float] = {"scale_px": float(scale)}
        if deg.occlusion > 0:  # a strap across the label, from one side
            frac = float(rng.uniform(0, deg.occlusion))
            params["occlusion"] = frac
            if fmt == "code128":  # a 1D code is read along its bars: the strap covers height
                band = int(frac * ch)
                y0 = 0 if rng.random() < 0.5 else ch - band
                if band > 0:
                    card[y0 : y0 + band, :] = int(rng.uniform(20, 90))
            elif fmt == "datamatrix":  # finder and clock edges carry no redundancy: a smudge inside
                bw, bh = int(frac * cw), int(0.35 * ch)
                if bw > 0:
                    x0 = int(rng.integers(cw // 4, max(cw // 4 + 1, 3 * cw // 4 - bw)))
                    y0 = int(rng.integers(ch // 4, max(ch // 4 + 1, 3 * ch // 4 - bh)))
                    card[y0 : y0 + bh, x0 : x0 + bw] = int(rng.uniform(20, 90))
            else:
                band = int(frac * cw)
                x0 = 0 if rng.random() < 0.5 else cw - band
                if band > 0:
                    card[:, x0 : x0 + band] = int(rng.uniform(20, 90))
        if fmt == "code128":
            max_side = max_side / 0.8 * 0.92 * canvas.size[0] / max(canvas.size[1], 1)
        fit = min(1.0, max_side / max(ch, cw))
        sw, sh = cw * fit, ch * fit
        theta = math.radians(float(rng.uniform(-deg.rotation_deg, deg.rotation_deg)))
        params["rotation_deg"] = math.degrees(theta)
        corners = np.array([(-sw / 2, -sh / 2), (sw / 2, -sh / 2), (sw / 2, sh / 2), (-sw / 2, sh / 2)])
        if deg.perspective > 0:
            corners += rng.uniform(-deg.perspective, deg.perspective, corners.shape) * np.array([sw, sh])
        c, s = math.cos(theta), math.sin(theta)
        rot = corners @ np.array([[c, s], [-s, c]])
        jitter = rng.uniform(-0.05, 0.05, 2) * np.array(canvas.size)
        dest = rot + np.array(centre) + jitter
        src = np.array([(0, 0), (cw, 0), (cw, ch), (0, ch)], dtype=np.float64)
        coeffs = _perspective_coeffs(dest, src)
        label = Image.fromarray(card, mode="L")
        mask = Image.new("L", label.size, 255)
        warped = label.transform(canvas.size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR)
        wmask = mask.transform(canvas.size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR)
        canvas.paste(warped, (0, 0), wmask)
        if deg.glare > 0:
            g = float(rng.uniform(0, deg.glare))
            params["glare"] = g
            if g > 0.02:
                gx, gy = dest.mean(axis=0) + rng.uniform(-0.3, 0.3, 2) * np.array([sw, sh])
                r = float(rng.uniform(0.1, 0.25)) * max(sw, sh)
                overlay = Image.new("L", canvas.size, 0)
                ImageDraw.Draw(overlay).ellipse((gx - r, gy - r * 0.6, gx + r, gy + r * 0.6), fill=int(255 * g))
                overlay = overlay.filter(ImageFilter.GaussianBlur(r / 3))
                arr = np.asarray(canvas, dtype=np.int16) + np.asarray(overlay, dtype=np.int16)
                canvas.paste(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L"))
        return params

    def _light(self, arr: np.ndarray, deg: Degradation, params: dict[str, float]) -> np.ndarray:
        if deg.light <= 0:
            return arr
        k = float(self.rng.uniform(0, deg.light))
        params["light"] = k
        w = arr.shape[1]
        ramp = np.linspace(1.0, 1.0 - k, w, dtype=np.float32)
        if self.rng.random() < 0.5:
            ramp = ramp[::-1]
        return arr * ramp[None, :]

    def with_degradation(self, **changes: float) -> Camera:
        """A camera like this one with some degradation ranges changed (same seed state)."""
        other = Camera(self.camera_id, 0, self.size, replace(self.degradation, **changes))
        other.rng = self.rng
        return other


def _perspective_coeffs(dest: np.ndarray, src: np.ndarray) -> tuple[float, ...]:
    """PIL PERSPECTIVE coefficients mapping output points `dest` to input points `src`."""
    a = []
    b = []
    for (x, y), (u, v) in zip(dest, src, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    sol = np.linalg.solve(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return tuple(float(v) for v in sol)
