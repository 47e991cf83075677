"""Event scripts of the generated demo dataset: which object does what, and when.

A video's script is a list of non-overlapping :class:`Event` s separated by short idle gaps. Each
event changes one object on a dark stage: it appears, moves to a side, changes colour, grows,
shrinks, shakes, blinks or disappears. The script also carries every object's visual state before
and after each event, so that rendering (``render``) and the sentences (``text``) are
derived from the same facts.

The design follows what the fc6 features of a randomly initialised C3D carry on such clips (see
``probe``): colour and motion direction are linearly decodable, shape much less so. Every
event therefore changes colour, position, size or visibility, or moves the object, and one object
at a time is on stage: with two (different colours and shapes), the clip's colour no longer says
which object acts, and the model scored 33.6 test mIoU instead of 50 (docs/results.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

# Saturated RGB colours, every pair at least 159 apart (Euclidean), so that C3D tells them apart.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 200, 70),
    "blue": (50, 100, 245),
    "yellow": (240, 220, 40),
    "purple": (200, 60, 210),
    "white": (235, 235, 235),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")
# Radius in pixels of the three sizes an object can have; objects appear at "normal" size.
SIZE_RADIUS: dict[str, float] = {"small": 10.0, "normal": 17.0, "large": 24.0}
SIZE_ORDER: tuple[str, ...] = ("small", "normal", "large")

# A 3 x 3 grid of positions inside the 112 x 112 centre crop that the C3D extractor keeps of a
# 172 x 128 frame (x in [30, 142], y in [8, 120]).
FRAME_WIDTH, FRAME_HEIGHT = 172, 128
COLUMN_X: dict[str, float] = {"left": 52.0, "centre": 86.0, "right": 120.0}
ROW_Y: dict[str, float] = {"top": 32.0, "middle": 64.0, "bottom": 96.0}
COLUMNS: tuple[str, ...] = ("left", "centre", "right")
ROWS: tuple[str, ...] = ("top", "middle", "bottom")

DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")
# No rotation: in a probe on 291 demo clips random-init C3D fc6 recognised 0 of 19 spinning
# shapes (a full turn in ~3 s), while it does see translation; "shake" took its place.
ACTIONS: tuple[str, ...] = ("appear", "move", "recolour", "grow", "shrink", "shake", "blink", "disappear")

# Relative frequency of each action when it is possible (see ``_possible_actions``).
ACTION_WEIGHTS: dict[str, float] = {
    "appear": 2.0,
    "move": 3.0,
    "recolour": 2.0,
    "grow": 1.0,
    "shrink": 1.0,
    "shake": 1.0,
    "blink": 1.0,
    "disappear": 2.0,
}
MAX_OBJECTS_ON_STAGE = 1  # up to 2 are supported: objects on stage then differ in colour, shape and cell
MIN_EVENTS_BEFORE_DISAPPEAR = 3  # an object appears, does at least two things, then may leave
MAX_EVENTS_PER_OBJECT = 6  # its appear and disappear events included
SHAKE_AMPLITUDE_PX = 6.0  # side to side, up to ~6 px a frame at 8 fps
SHAKE_HZ = 1.25
BLINK_HALF_PERIOD_S = 0.25  # on for 0.25 s, off for 0.25 s: 2 frames each at 8 fps
MIN_EVENT_S = 2.0  # one C3D clip of 16 frames at 8 fps
TIME_DECIMALS = 2  # timestamps are rounded before rendering, so annotations match pixels exactly


@dataclass(frozen=True)
class ObjectState:
    """One object between events: grid cell, size name, colour name, visibility."""

    column: str
    row: str
    size: str
    colour: str
    visible: bool

    @property
    def xy(self) -> tuple[float, float]:
        return COLUMN_X[self.column], ROW_Y[self.row]

    @property
    def radius(self) -> float:
        return SIZE_RADIUS[self.size]

    @property
    def rgb(self) -> tuple[int, int, int]:
        return COLOURS[self.colour]


@dataclass(frozen=True)
class Event:
    """One action of one object over [start, end] seconds.

    ``detail`` is the move direction, the new colour or the appear position ("<column> <row>");
    ``None`` for grow, shrink, shake, blink and disappear.
    """

    start: float
    end: float
    action: str
    object_id: int
    shape: str
    detail: str | None
    before: ObjectState
    after: ObjectState

    def to_json(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "action": self.action,
            "object": self.object_id,
            "shape": self.shape,
            "colour": self.before.colour if self.action != "appear" else self.after.colour,
            "detail": self.detail,
            "before": dataclasses.asdict(self.before),
            "after": dataclasses.asdict(self.after),
        }


@dataclass(frozen=True)
class VideoScript:
    """Everything a video shows: its length and its events in temporal order."""

    fps: float
    num_frames: int
    shapes: tuple[str, ...]  # shape of each object id
    events: tuple[Event, ...]

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


def _move_target(state: ObjectState, direction: str) -> tuple[str, str]:
    """Cell reached by moving all the way to the ``direction`` side of the stage."""
    column, row = state.column, state.row
    if direction == "left":
        column = COLUMNS[0]
    elif direction == "right":
        column = COLUMNS[-1]
    elif direction == "up":
        row = ROWS[0]
    else:
        row = ROWS[-1]
    return column, row


def _cell_distance(a: tuple[str, str], b: tuple[str, str]) -> int:
    """Chebyshev distance between two grid cells (column, row)."""
    return max(abs(COLUMNS.index(a[0]) - COLUMNS.index(b[0])), abs(ROWS.index(a[1]) - ROWS.index(b[1])))


class _Stage:
    """Objects currently on stage and the history needed to choose the next action."""

    def __init__(self) -> None:
        self.states: dict[int, ObjectState] = {}  # visible objects only
        self.shapes: list[str] = []
        self.event_count: dict[int, int] = {}
        self.last: tuple[int, str] | None = None  # (object, action) of the previous event
        self.colour_uses: dict[str, int] = dict.fromkeys(COLOURS, 0)

    def occupied(self, exclude: int | None = None) -> set[tuple[str, str]]:
        return {(s.column, s.row) for oid, s in self.states.items() if oid != exclude}

    def far_cells(self, exclude: int | None = None) -> list[tuple[str, str]]:
        """Cells two steps from every other object: two objects there never overlap, whatever their size."""
        others = self.occupied(exclude)
        return [(c, r) for c in COLUMNS for r in ROWS if all(_cell_distance((c, r), o) == 2 for o in others)]

    def colours_in_use(self) -> set[str]:
        return {s.colour for s in self.states.values()}

    def shapes_in_use(self) -> set[str]:
        return {self.shapes[oid] for oid in self.states}


def _possible_actions(stage: _Stage, oid: int) -> dict[str, list]:
    """Actions object ``oid`` can do now, each with its possible details."""
    if stage.event_count[oid] == MAX_EVENTS_PER_OBJECT - 1:
        return {"disappear": [None]}  # make room: a video shows several objects, not one doing everything
    state = stage.states[oid]
    allowed = stage.far_cells(exclude=oid)
    options: dict[str, list] = {}
    moves = [d for d in DIRECTIONS if _move_target(state, d) != (state.column, state.row)]
    moves = [d for d in moves if _move_target(state, d) in allowed]
    if moves:
        options["move"] = moves
    new_colours = _least_used_colours(stage)
    if new_colours:
        options["recolour"] = new_colours
    size_index = SIZE_ORDER.index(state.size)
    if size_index < len(SIZE_ORDER) - 1:
        options["grow"] = [None]
    if size_index > 0:
        options["shrink"] = [None]
    options["shake"] = [None]
    options["blink"] = [None]
    if stage.event_count[oid] >= MIN_EVENTS_BEFORE_DISAPPEAR:
        options["disappear"] = [None]
    if stage.last is not None and stage.last[0] == oid:
        options.pop(stage.last[1], None)  # never the same thing twice in a row
    return options


def _least_used_colours(stage: _Stage) -> list[str]:
    """Free colours this video has shown least often: events of one video then differ in colour."""
    free = {c: n for c, n in stage.colour_uses.items() if c not in stage.colours_in_use()}
    fewest = min(free.values())
    return [c for c, n in free.items() if n == fewest]


def _apply(state: ObjectState, action: str, detail: str | None) -> ObjectState:
    """State of an object after ``action``."""
    if action == "move":
        column, row = _move_target(state, detail)
        return dataclasses.replace(state, column=column, row=row)
    if action == "recolour":
        return dataclasses.replace(state, colour=detail)
    if action in ("grow", "shrink"):
        step = 1 if action == "grow" else -1
        return dataclasses.replace(state, size=SIZE_ORDER[SIZE_ORDER.index(state.size) + step])
    if action == "disappear":
        return dataclasses.replace(state, visible=False)
    if action in ("shake", "blink"):
        return state
    raise ValueError(f"unknown demo action {action!r}")


def _choose(rng: np.random.Generator, items: list):
    return items[int(rng.integers(len(items)))]


def _new_object(rng: np.random.Generator, stage: _Stage) -> tuple[str, ObjectState]:
    shape = _choose(rng, [s for s in SHAPES if s not in stage.shapes_in_use()])
    colour = _choose(rng, _least_used_colours(stage))
    column, row = _choose(rng, stage.far_cells())
    return shape, ObjectState(column=column, row=row, size="normal", colour=colour, visible=True)


def _action_sequence(rng: np.random.Generator, num_events: int) -> tuple[list[str], list[tuple]]:
    """Choose ``num_events`` actions; returns object shapes and (action, oid, detail, before, after)."""
    stage = _Stage()
    steps: list[tuple] = []
    for _ in range(num_events):
        candidates: list[tuple[str, int | None, list]] = []
        can_enter = len(stage.states) < MAX_OBJECTS_ON_STAGE and stage.far_cells()
        if can_enter and not (stage.last and stage.last[1] == "appear"):
            candidates.append(("appear", None, [None]))
        for oid in sorted(stage.states):
            for action, details in _possible_actions(stage, oid).items():
                candidates.append((action, oid, details))
        # The newest object acts most often, so paragraphs follow one object for a while ("it ...").
        newest = max(stage.states, default=None)
        weights = np.array([ACTION_WEIGHTS[a] * (1.0 if oid in (None, newest) else 0.5) for a, oid, _ in candidates])
        action, oid, details = candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))]
        if action == "appear":
            shape, after = _new_object(rng, stage)
            oid = len(stage.shapes)
            stage.shapes.append(shape)
            stage.event_count[oid] = 0
            before = dataclasses.replace(after, visible=False)
            detail = f"{after.column} {after.row}"
        else:
            detail = _choose(rng, details)
            before = stage.states[oid]
            after = _apply(before, action, detail)
        steps.append((action, oid, detail, before, after))
        stage.event_count[oid] += 1
        stage.last = (oid, action)
        if action in ("appear", "recolour"):
            stage.colour_uses[after.colour] += 1
        if after.visible:
            stage.states[oid] = after
        else:
            del stage.states[oid]
    return stage.shapes, steps


def make_script(
    rng: np.random.Generator,
    num_frames: int,
    fps: float,
    num_events: int,
    gap_fraction: float = 0.2,
    min_event_s: float = MIN_EVENT_S,
) -> VideoScript:
    """A random script of ``num_events`` events filling ``num_frames / fps`` seconds.

    Idle gaps take ``gap_fraction`` of the video (the lead-in and tail gaps half a share each);
    events take the rest, each at least ``min_event_s`` plus a random share of what is left.
    """
    if num_events < 1:
        raise ValueError(f"a demo video needs at least one event, got {num_events}")
    duration = num_frames / fps
    event_time = (1.0 - gap_fraction) * duration
    if event_time < num_events * min_event_s:
        raise ValueError(
            f"{num_events} events of at least {min_event_s} s do not fit in {duration:.1f} s "
            f"with {gap_fraction:.0%} idle time"
        )
    shapes, steps = _action_sequence(rng, num_events)
    event_weights = rng.uniform(0.5, 1.5, size=num_events)
    lengths = min_event_s + (event_time - num_events * min_event_s) * event_weights / event_weights.sum()
    gap_weights = rng.uniform(0.75, 1.25, size=num_events + 1)
    gap_weights[[0, -1]] *= 0.5  # short idle lead-in and tail
    gaps = gap_fraction * duration * gap_weights / gap_weights.sum()
    events = []
    t = gaps[0]
    for i, (action, oid, detail, before, after) in enumerate(steps):
        start = round(float(t), TIME_DECIMALS)
        end = round(float(t + lengths[i]), TIME_DECIMALS)
        events.append(Event(start, end, action, oid, shapes[oid], detail, before, after))
        t += lengths[i] + gaps[i + 1]
    return VideoScript(fps=fps, num_frames=num_frames, shapes=tuple(shapes), events=tuple(events))
