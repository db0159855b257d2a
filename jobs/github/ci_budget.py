"""Fitting CI failures into a size budget: what the agent reads of them is bounded.

Every part is measured in UTF-8 bytes. The budget is shared fairly: each failure, and inside
one each part (title, annotations, summary, text, log), gets an equal share of what is left,
and what a part does not need goes to the others (``fair_shares``). Titles, summaries and
texts keep their beginning; a log keeps its end, where a failing job says why it failed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs.github.ci import Annotation, Failure

ELLIPSIS = "…"
# A name, a link or a note longer than this is cut wherever it is shown.
NAME_BYTES = 200
LINK_BYTES = 400
# One annotation's message is cut to this before the sharing starts, so one long message
# cannot take the share of the others.
ANNOTATION_BYTES = 1000
# A cut log starts at a line's beginning if one begins within this many bytes of the cut.
LINE_SEARCH_BYTES = 400


def size(text: str | None) -> int:
    """Bytes of ``text`` in UTF-8."""
    return len(text.encode()) if text else 0


def annotation_size(item: Annotation) -> int:
    """Bytes of one annotation as it is shown: ``path:line-end level title: message``."""
    return size(f"{item.path}:{item.line}-{item.end_line} {item.level} {item.title or ''}: "
                f"{item.message}")


def failure_size(item: Failure) -> int:
    """Bytes of everything a failure shows."""
    texts = (item.name, item.conclusion, item.url, item.title, item.summary, item.text,
             item.log, item.log_note)
    return sum(size(t) for t in texts) + sum(annotation_size(a) for a in item.annotations)


def head(text: str | None, limit: int) -> str | None:
    """``text`` if it fits in ``limit`` bytes, else its beginning and an ellipsis."""
    if text is None or size(text) <= limit:
        return text
    if limit < size(ELLIPSIS):
        return ""
    cut = text.encode()[: limit - size(ELLIPSIS)].decode(errors="ignore")
    return cut + ELLIPSIS


def tail(text: str | None, limit: int) -> str | None:
    """``text`` if it fits in ``limit`` bytes, else its last bytes, from a line's beginning
    when one begins close to the cut."""
    if text is None or size(text) <= limit:
        return text
    cut = text.encode()[len(text.encode()) - limit:] if limit > 0 else b""
    newline = cut.find(b"\n", 0, LINE_SEARCH_BYTES)
    if newline >= 0:
        cut = cut[newline + 1:]
    return cut.decode(errors="ignore")


def fair_shares(demands: list[int], budget: int) -> list[int]:
    """Split ``budget`` between ``demands``: smallest first, each gets what it asks up to an
    equal share of what is left (water-filling), so nothing is given that is not needed."""
    shares = [0] * len(demands)
    left = max(0, budget)
    order = sorted(range(len(demands)), key=lambda i: demands[i])
    for done, index in enumerate(order):
        shares[index] = min(demands[index], left // (len(demands) - done))
        left -= shares[index]
    return shares


def fit(failures: list[Failure], budget: int) -> list[Failure]:
    """The failures cut so that together they take at most ``budget`` bytes.

    Each keeps its name, conclusion, link and log note (cut to their caps); the rest of the
    budget is shared. If even those do not fit, the failures at the end are left out (the
    caller knows the names of all of them from ``ci_state``).
    """
    kept = [_fixed(f) for f in failures]
    while kept and sum(failure_size(_bare(f)) for f in kept) > budget:
        kept.pop()
    fixed = [failure_size(_bare(f)) for f in kept]
    rest = fair_shares([failure_size(f) - bare for f, bare in zip(kept, fixed)],
                       budget - sum(fixed))
    return [_fit_one(f, share) for f, share in zip(kept, rest)]


def _fixed(item: Failure) -> Failure:
    """The failure with its name, link, note and annotation messages cut to their caps."""
    notes = tuple(replace(a, message=head(a.message, ANNOTATION_BYTES) or "")
                  for a in item.annotations)
    return replace(item, name=head(item.name, NAME_BYTES) or "", url=head(item.url, LINK_BYTES),
                   log_note=head(item.log_note, LINK_BYTES), annotations=notes)


def _bare(item: Failure) -> Failure:
    """What of a failure is never cut further: name, conclusion, link and log note."""
    return replace(item, title=None, summary=None, text=None, annotations=(), log=None)


def _fit_one(item: Failure, share: int) -> Failure:
    """One failure whose parts beyond the fixed ones are cut to ``share`` bytes together."""
    notes_size = sum(annotation_size(a) for a in item.annotations)
    demands = [size(item.title), notes_size, size(item.summary), size(item.text), size(item.log)]
    title, notes, summary, text, log = fair_shares(demands, share)
    kept = _annotations_within(item.annotations, notes)
    return replace(item, title=head(item.title, title), summary=head(item.summary, summary),
                   text=head(item.text, text), log=tail(item.log, log), annotations=kept,
                   annotations_left_out=item.annotations_left_out + len(item.annotations)
                   - len(kept))


def _annotations_within(items: tuple[Annotation, ...], limit: int) -> tuple[Annotation, ...]:
    """The first annotations that fit in ``limit`` bytes, in order."""
    kept: list[Annotation] = []
    for item in items:
        limit -= annotation_size(item)
        if limit < 0:
            break
        kept.append(item)
    return tuple(kept)
