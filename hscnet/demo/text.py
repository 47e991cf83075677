"""Language of the generated demo dataset: event sentences, a text corpus and its word vectors.

Sentences come from varied templates. Within a paragraph an object is introduced with its colour
and shape and may then be called "it", as in TACoS ("The person takes out a knife. He washes
it."), so that grounding a later sentence needs the paragraph's context.

The corpus mixes sentences of random scripts with a few plain facts that tie each colour, shape and
motion word to its own words ("the banana is yellow"); without them every colour word would occur
in exactly the same contexts and the trained vectors of "red" and "blue" would nearly coincide.
The word vectors are trained with gensim's Word2Vec and written in GloVe's text format, so the
downstream text stage runs its real GloVe loading code on them.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterable, Sequence

import numpy as np

from hscnet.demo.script import COLOURS, SHAPES, Event, make_script

WORD_VECTOR_DIM = 300

POSITION_PHRASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("left", "top"): ("at the top left", "in the upper left corner"),
    ("centre", "top"): ("at the top", "near the top"),
    ("right", "top"): ("at the top right", "in the upper right corner"),
    ("left", "middle"): ("on the left", "at the left side"),
    ("centre", "middle"): ("in the centre", "in the middle"),
    ("right", "middle"): ("on the right", "at the right side"),
    ("left", "bottom"): ("at the bottom left", "in the lower left corner"),
    ("centre", "bottom"): ("at the bottom", "near the bottom"),
    ("right", "bottom"): ("at the bottom right", "in the lower right corner"),
}

APPEAR_TEMPLATES = (
    "a {colour} {shape} appears {where}.",
    "a {colour} {shape} fades in {where}.",
    "{where}, a {colour} {shape} shows up.",
    "a {colour} {shape} comes into view {where}.",
    "{where} a {colour} {shape} slowly appears.",
)
MOVE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "left": (
        "{subject} slides to the left.",
        "{subject} moves left.",
        "{subject} glides over to the left side.",
        "{subject} travels toward the left.",
    ),
    "right": (
        "{subject} slides to the right.",
        "{subject} moves right.",
        "{subject} glides over to the right side.",
        "{subject} travels toward the right.",
    ),
    "up": ("{subject} moves up.", "{subject} rises.", "{subject} floats upward.", "{subject} slides to the top."),
    "down": ("{subject} moves down.", "{subject} sinks.", "{subject} drops down.", "{subject} slides to the bottom."),
}
RECOLOUR_TEMPLATES = (
    "{subject} turns {new}.",
    "{subject} changes colour to {new}.",
    "{subject} becomes {new}.",
    "{subject} slowly changes from {old} to {new}.",
)
GROW_TEMPLATES = ("{subject} grows bigger.", "{subject} gets larger.", "{subject} expands.", "{subject} swells up.")
SHRINK_TEMPLATES = (
    "{subject} shrinks.",
    "{subject} gets smaller.",
    "{subject} becomes smaller.",
    "{subject} contracts.",
)
SHAKE_TEMPLATES = (
    "{subject} shakes.",
    "{subject} wobbles from side to side.",
    "{subject} jiggles back and forth.",
    "{subject} vibrates.",
)
BLINK_TEMPLATES = (
    "{subject} blinks.",
    "{subject} flashes on and off.",
    "{subject} flickers.",
    "{subject} blinks a few times.",
)
DISAPPEAR_TEMPLATES = (
    "{subject} disappears.",
    "{subject} fades away.",
    "{subject} vanishes.",
    "{subject} fades out of view.",
)
FACT_SHARE = 0.3  # of the corpus; enough for the facts to pull apart e.g. "red" and "blue"
CORPUS_SCRIPT_FRAMES = 360  # scripts drawn for the corpus only need room for up to 11 events
CONNECTIVES = ("then", "next", "after that")
LAST_CONNECTIVE = "finally"

# Plain facts that give each colour, shape and side word contexts of its own: for each
# word, a few things it goes with, said in a few ways. Every word gets the same number of facts.
WORD_THINGS: dict[str, tuple[str, ...]] = {
    "red": ("tomato", "cherry", "strawberry", "rose", "blood"),
    "green": ("grass", "leaf", "frog", "lime", "cucumber"),
    "blue": ("sky", "ocean", "sea", "sapphire", "blueberry"),
    "yellow": ("banana", "lemon", "sun", "corn", "canary"),
    "purple": ("grape", "plum", "violet", "lavender", "eggplant"),
    "white": ("snow", "milk", "cloud", "paper", "salt"),
    "circle": ("wheel", "coin", "plate", "ring", "moon"),
    "square": ("box", "tile", "window", "napkin", "chessboard"),
    "triangle": ("roof", "pyramid", "sail", "wedge", "slice"),
    "star": ("starfish", "badge", "sparkle", "snowflake", "sheriff"),
    "left": ("west", "heart", "port", "margin", "exit"),
    "right": ("east", "liver", "starboard", "signature", "entrance"),
}
WORD_FACT_TEMPLATES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        COLOURS, ("the {thing} is {word}.", "a {thing} is usually {word}.", "{word} is the colour of the {thing}.")
    ),
    **dict.fromkeys(
        SHAPES,
        ("the {thing} has the shape of a {word}.", "a {thing} looks like a {word}.", "draw a {word} for the {thing}."),
    ),
    **dict.fromkeys(
        ("left", "right"),
        (
            "the {thing} is on the {word}.",
            "on a map the {thing} is at the {word}.",
            "look to the {word} to see the {thing}.",
        ),
    ),
}
GENERAL_FACTS = (
    "the balloon rises up into the sky.",
    "smoke floats upward.",
    "the stone sinks down into the water.",
    "rain drops down from the clouds.",
    "the puppy grows bigger every day.",
    "the tree gets larger each year.",
    "the sweater shrinks in the wash.",
    "the ice cube gets smaller in the sun.",
    "the lamp flickers at night.",
    "the light flashes on and off.",
    "the ghost vanishes.",
    "the fog fades away in the morning.",
    "the moon comes into view.",
    "the sun appears at the top of the sky.",
)


def _choose(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def _noun_phrase(rng: np.random.Generator, event: Event, previous: Event | None) -> str:
    """How a sentence names the acting object: "it" only right after a sentence about it."""
    if previous is not None and previous.object_id == event.object_id and rng.random() < 0.5:
        return "it"
    if rng.random() < 0.75:
        return f"the {event.before.colour} {event.shape}"
    return f"the {event.shape}"  # unambiguous: objects on stage never share a shape


def describe_event(rng: np.random.Generator, event: Event, previous: Event | None) -> str:
    """One lower-case sentence (with final period) for ``event``; ``previous`` is the paragraph's last event."""
    if event.action == "appear":
        where = _choose(rng, POSITION_PHRASES[(event.after.column, event.after.row)])
        return _choose(rng, APPEAR_TEMPLATES).format(colour=event.after.colour, shape=event.shape, where=where)
    subject = _noun_phrase(rng, event, previous)
    if event.action == "move":
        template = _choose(rng, MOVE_TEMPLATES[event.detail])
    elif event.action == "recolour":
        template = _choose(rng, RECOLOUR_TEMPLATES)
    elif event.action == "grow":
        template = _choose(rng, GROW_TEMPLATES)
    elif event.action == "shrink":
        template = _choose(rng, SHRINK_TEMPLATES)
    elif event.action == "shake":
        template = _choose(rng, SHAKE_TEMPLATES)
    elif event.action == "blink":
        template = _choose(rng, BLINK_TEMPLATES)
    elif event.action == "disappear":
        template = _choose(rng, DISAPPEAR_TEMPLATES)
    else:
        raise ValueError(f"unknown demo action {event.action!r}")
    return template.format(subject=subject, old=event.before.colour, new=event.after.colour)


def _sentence_case(text: str) -> str:
    return text[0].upper() + text[1:]


def describe_paragraph(rng: np.random.Generator, events: Sequence[Event]) -> list[str]:
    """Sentences for consecutive ``events``, in their order, some joined by "then", "finally", ..."""
    sentences = []
    for i, event in enumerate(events):
        text = describe_event(rng, event, events[i - 1] if i > 0 else None)
        if i > 0 and rng.random() < 0.3:
            connective = LAST_CONNECTIVE if i == len(events) - 1 and rng.random() < 0.5 else _choose(rng, CONNECTIVES)
            text = f"{connective} {text}"
        sentences.append(_sentence_case(text))
    return sentences


def _fact_sentences() -> list[str]:
    facts = [
        template.format(thing=thing, word=word)
        for word, things in WORD_THINGS.items()
        for thing, template in itertools.product(things, WORD_FACT_TEMPLATES[word])
    ]
    return [*facts, *GENERAL_FACTS]


def _template_sweep() -> list[str]:
    """Every template with every colour, shape, position and direction: the vocabulary in full."""
    sentences = []
    for phrases in POSITION_PHRASES.values():
        for template, where in itertools.product(APPEAR_TEMPLATES, phrases):
            for colour, shape in zip(COLOURS, itertools.cycle(SHAPES)):
                sentences.append(template.format(colour=colour, shape=shape, where=where))
    subjects = [
        "it",
        *(f"the {c} {s}" for c, s in zip(COLOURS, itertools.cycle(SHAPES))),
        *(f"the {s}" for s in SHAPES),
    ]
    action_templates = [
        *itertools.chain.from_iterable(MOVE_TEMPLATES.values()),
        *GROW_TEMPLATES,
        *SHAKE_TEMPLATES,
        *SHRINK_TEMPLATES,
        *BLINK_TEMPLATES,
        *DISAPPEAR_TEMPLATES,
    ]
    for subject in subjects:
        sentences.extend(t.format(subject=subject) for t in action_templates)
    for old, new in itertools.permutations(COLOURS, 2):  # every colour change, said of an object of the old colour
        for template, shape in zip(RECOLOUR_TEMPLATES, itertools.cycle(SHAPES), strict=False):
            sentences.append(template.format(subject=f"the {old} {shape}", old=old, new=new))
    every_fiftieth = sentences[:: len(sentences) // 50]
    sentences.extend(f"{c} {s}" for c in (*CONNECTIVES, LAST_CONNECTIVE) for s in every_fiftieth)
    return sentences


def make_corpus(rng: np.random.Generator, num_sentences: int) -> list[str]:
    """A shuffled corpus of at least ``num_sentences`` sentences in the demo's language.

    It holds the full template sweep, the facts (repeated, so that they weigh in training) and
    paragraphs of freshly drawn scripts until ``num_sentences`` is reached.
    """
    sentences = [_sentence_case(s) for s in _template_sweep()]
    facts = [_sentence_case(s) for s in _fact_sentences()]
    sentences.extend(facts * max(1, round(FACT_SHARE * num_sentences / len(facts))))
    while len(sentences) < num_sentences:
        script = make_script(rng, num_frames=CORPUS_SCRIPT_FRAMES, fps=8.0, num_events=int(rng.integers(4, 12)))
        sentences.extend(describe_paragraph(rng, script.events))
    order = rng.permutation(len(sentences))
    return [sentences[i] for i in order]


def train_word_vectors(token_lists: Iterable[list[str]], seed: int, epochs: int = 10):
    """Skip-gram Word2Vec (gensim) on the tokenised corpus: ``KeyedVectors`` of dim 300.

    ``workers=1`` because gensim's multi-threaded training is not reproducible; the vectors'
    random initialisation is seeded by ``seed`` (not by Python's string hashing). ``sample`` is
    raised from gensim's 1e-3 to 1e-2: in a ~200-word vocabulary nearly every word is "frequent"
    and would be dropped most of the time, which left e.g. "left" and "right" at cosine ~0.98
    on the demo corpus (0.70 with 1e-2; "red"/"blue" ~0.74 -> 0.52).
    """
    from gensim.models import Word2Vec

    # gensim logs every epoch at INFO; keep the stage's log readable.
    gensim_log = logging.getLogger("gensim")
    level = gensim_log.level
    gensim_log.setLevel(logging.WARNING)
    try:
        model = Word2Vec(
            sentences=list(token_lists),
            vector_size=WORD_VECTOR_DIM,
            window=5,
            min_count=1,
            sg=1,
            negative=5,
            sample=1e-2,
            epochs=epochs,
            seed=seed,
            workers=1,
        )
    finally:
        gensim_log.setLevel(level)
    return model.wv


def write_glove(vectors, path: str | os.PathLike) -> None:
    """Write ``KeyedVectors`` as GloVe text: one ``word v1 ... v300`` line per word, no header."""
    with open(path, "w", encoding="utf-8") as fh:
        for word in vectors.index_to_key:
            values = " ".join(f"{v:.6f}" for v in vectors[word])
            fh.write(f"{word} {values}\n")
