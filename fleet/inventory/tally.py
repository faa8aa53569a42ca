"""Smart tally: read the load's label at pickup and drop and decide what that means.

The label (QR Code, DataMatrix or Code 128 encoding `LD:<load id>`) is decoded from
a camera image with zxing-cpp; an RFID read is a second witness where the load has
a tag. The decision is a pure function of (expected, what was read, attempt):

  match       label says the expected load (and the tag, if read, agrees) -> confirm
  mismatch    label or tag says another load, or label and tag disagree -> stop the
              leg, raise an alarm (options: accept, re-read, check station)
  ambiguous   two different load labels in one frame -> same as a mismatch
  unreadable  no load label decoded -> retry, up to `max_attempts`, then escalate
              (an alarm with the same options)

A read is a match only when the decoded text equals the expected label exactly
(the decoders' own checksums and Reed-Solomon codes reject damaged symbols first),
so a wrong read can never become a match. By default an RFID read alone never
confirms: it is a witness, not a replacement (`rfid_alone_confirms`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import zxingcpp

LABEL_PREFIX = "LD:"  # same as sim.camera.LABEL_PREFIX (kept apart: fleet does not import sim)
ALARM_OPTIONS = ("accept", "re-read", "check-station")
_FORMATS = {
    zxingcpp.BarcodeFormat.QRCode: "qr",
    zxingcpp.BarcodeFormat.DataMatrix: "datamatrix",
    zxingcpp.BarcodeFormat.Code128: "code128",
}


class Outcome(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    AMBIGUOUS = "ambiguous"
    UNREADABLE = "unreadable"
    ESCALATED = "escalated"  # unreadable after every retry
    DUPLICATE = "duplicate"  # the label names a load the inventory already holds elsewhere
    ACCEPTED = "accepted"  # an operator accepted after an alarm


class Action(StrEnum):
    CONFIRM = "confirm"  # the leg goes on; a drop changes the inventory
    RETRY = "retry"  # take another frame
    STOP = "stop"  # stop the leg and raise an alarm for the dispatcher


@dataclass(frozen=True)
class LabelRead:
    """What one frame showed: every decoded text, and the load ids among them."""

    texts: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    load_ids: tuple[str, ...] = ()  # distinct load ids from `LD:` labels, in reading order
    decode_ms: float = 0.0
    error: str | None = None  # why the image could not be read at all

    @property
    def load_id(self) -> str | None:
        return self.load_ids[0] if len(self.load_ids) == 1 else None

    @property
    def format(self) -> str | None:
        return self.formats[0] if self.formats else None


def load_id_of(text: str) -> str | None:
    """The load id in a label text, or None for a text that is not a load label."""
    if not text.startswith(LABEL_PREFIX):
        return None
    rest = text[len(LABEL_PREFIX) :]
    return rest if rest and rest.isprintable() and len(rest) <= 120 else None


class LabelReader:
    """zxing-cpp over the three label formats; any image it cannot use reads as nothing.

    Thread-safe (no state); `read` takes a grayscale or BGR uint8 numpy array or a
    PIL image and never raises.
    """

    def __init__(self, try_rotate: bool = True, try_invert: bool = False) -> None:
        self.formats = tuple(_FORMATS)
        self.try_rotate = try_rotate
        self.try_invert = try_invert

    def read(self, image: Any) -> LabelRead:
        t0 = time.perf_counter()
        try:
            if isinstance(image, np.ndarray):
                if image.dtype != np.uint8 or image.ndim not in (2, 3) or min(image.shape[:2]) < 8:
                    return LabelRead(error=f"not an 8-bit image (dtype {image.dtype}, shape {image.shape})")
                image = np.ascontiguousarray(image)
            found = zxingcpp.read_barcodes(image, formats=self.formats, try_rotate=self.try_rotate,
                                           try_invert=self.try_invert)
        except Exception as exc:  # a broken frame must never stop the tally
            return LabelRead(error=f"cannot decode image: {type(exc).__name__}: {exc}")
        texts, fmts, ids = [], [], []
        for bc in found:
            if getattr(bc, "valid", True) is False:
                continue
            texts.append(bc.text)
            fmts.append(_FORMATS.get(bc.format, str(bc.format)))
            lid = load_id_of(bc.text)
            if lid is not None and lid not in ids:
                ids.append(lid)
        return LabelRead(tuple(texts), tuple(fmts), tuple(ids), (time.perf_counter() - t0) * 1000)


@dataclass(frozen=True)
class TallyPolicy:
    max_attempts: int = 3  # frames tried before an unreadable label is escalated
    rfid_alone_confirms: bool = False


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    action: Action
    read_load_id: str | None
    detail: str = ""
    options: tuple[str, ...] = field(default=())

    @property
    def stop_leg(self) -> bool:
        return self.action == Action.STOP


def decide(expected: str, read: LabelRead, attempt: int = 1, *, expected_tag: str | None = None,
           rfid_read: str | None = None, policy: TallyPolicy = TallyPolicy()) -> Decision:
    """What a tally read means for the leg (pure; see the module doc for the table).

    `attempt` counts from 1; `expected_tag` is the RFID tag of the expected load
    (None: the load has none, RFID is ignored); `rfid_read` the tag the reader saw.
    """
    tag_says: bool | None = None  # None: no witness
    if expected_tag is not None and rfid_read is not None:
        tag_says = rfid_read == expected_tag
    if len(read.load_ids) > 1:
        return Decision(Outcome.AMBIGUOUS, Action.STOP, None,
                        f"labels of {len(read.load_ids)} loads in one frame: {', '.join(read.load_ids)}",
                        ALARM_OPTIONS)
    got = read.load_id
    if got is not None:
        if got != expected:
            return Decision(Outcome.MISMATCH, Action.STOP, got, f"label says {got!r}, expected {expected!r}",
                            ALARM_OPTIONS)
        if tag_says is False:
            return Decision(Outcome.MISMATCH, Action.STOP, got,
                            f"label says {got!r} but RFID read tag {rfid_read!r}, expected {expected_tag!r}",
                            ALARM_OPTIONS)
        witness = " and RFID" if tag_says else ""
        return Decision(Outcome.MATCH, Action.CONFIRM, got, f"label{witness} match")
    # nothing readable from the label
    if tag_says is False:
        return Decision(Outcome.MISMATCH, Action.STOP, None,
                        f"label unreadable and RFID read tag {rfid_read!r}, expected {expected_tag!r}",
                        ALARM_OPTIONS)
    if tag_says and policy.rfid_alone_confirms:
        return Decision(Outcome.MATCH, Action.CONFIRM, None, "label unreadable, RFID match accepted by policy")
    why = read.error or ("no load label in frame" if not read.texts else f"foreign codes only: {read.texts[:3]}")
    if attempt < policy.max_attempts:
        return Decision(Outcome.UNREADABLE, Action.RETRY, None, f"attempt {attempt}/{policy.max_attempts}: {why}")
    return Decision(Outcome.ESCALATED, Action.STOP, None,
                    f"unreadable after {attempt} attempts: {why}", ALARM_OPTIONS)
