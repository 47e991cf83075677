"""Unit tests of the demo generator's parts: event scripts, sentences, word vectors, rendering."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hscnet.demo import generate as demo
from hscnet.demo import render as demo_render
from hscnet.demo import script as demo_script
from hscnet.demo import text as demo_text
from hscnet.demo.script import COLOURS, COLUMNS, ROWS, SHAPES
from hscnet.text.tokenize import tokenize_sentences


def _cell_distance(a, b) -> int:
    return max(abs(COLUMNS.index(a[0]) - COLUMNS.index(b[0])), abs(ROWS.index(a[1]) - ROWS.index(b[1])))


def _scripts(size: str, count: int):
    spec = demo.SIZES[size]
    for seed in range(count):
        rng = np.random.default_rng(seed)
        num_frames = int(rng.integers(spec.num_frames[0], spec.num_frames[1] + 1))
        num_events = int(rng.integers(spec.num_events[0], spec.num_events[1] + 1))
        yield demo_script.make_script(rng, num_frames, demo.FPS, num_events), num_events


@pytest.mark.parametrize("size", sorted(demo.SIZES))
def test_scripts_time_events_within_video_with_gaps_and_one_clip_long(size):
    clip_seconds = 16 / demo.FPS  # the C3D stage's clip length
    for script, num_events in _scripts(size, 40):
        events = script.events
        assert len(events) == num_events
        assert events[0].start > 0 and events[-1].end < script.duration
        for event in events:
            assert event.end - event.start >= clip_seconds - 0.01, event  # rounding to 0.01 s
            assert event.start == round(event.start, 2) and event.end == round(event.end, 2)
        for a, b in itertools.pairwise(events):
            assert b.start - a.end >= 0.25, (a, b)  # an idle gap, never overlap


@pytest.mark.parametrize("max_on_stage", [1, 2])
def test_scripts_keep_objects_consistent_and_distinguishable(monkeypatch, max_on_stage):
    monkeypatch.setattr(demo_script, "MAX_OBJECTS_ON_STAGE", max_on_stage)
    most_on_stage = 0
    for script, _ in _scripts("demo", 60):
        on_stage: dict[int, demo_script.ObjectState] = {}
        previous = None
        assert script.events[0].action == "appear"
        for event in script.events:
            if event.action == "appear":
                assert event.object_id not in on_stage and not event.before.visible
            else:
                assert on_stage[event.object_id] == event.before, "an event starts from the object's last state"
            assert previous is None or (previous.object_id, previous.action) != (event.object_id, event.action)
            if event.action == "move":
                assert (event.after.column, event.after.row) != (event.before.column, event.before.row)
            if event.action == "recolour":
                assert event.after.colour != event.before.colour
            if event.after.visible:
                on_stage[event.object_id] = event.after
            else:
                del on_stage[event.object_id]
            states = list(on_stage.values())
            assert len(states) <= max_on_stage
            most_on_stage = max(most_on_stage, len(states))
            if len(states) == 2:
                a, b = states
                assert a.colour != b.colour
                shapes = {script.shapes[oid] for oid in on_stage}
                assert len(shapes) == 2
                assert _cell_distance((a.column, a.row), (b.column, b.row)) == 2
            previous = event
        lifetimes = np.bincount([e.object_id for e in script.events])
        assert lifetimes.max() <= demo_script.MAX_EVENTS_PER_OBJECT
    assert most_on_stage == max_on_stage


def test_scripts_use_every_action_colour_and_shape():
    actions, colours, shapes, directions = set(), set(), set(), set()
    for script, _ in _scripts("demo", 30):
        for event in script.events:
            actions.add(event.action)
            colours.add(event.after.colour)
            shapes.add(event.shape)
            if event.action == "move":
                directions.add(event.detail)
    assert actions == set(demo_script.ACTIONS)
    assert colours == set(COLOURS) and shapes == set(SHAPES)
    assert directions == set(demo_script.DIRECTIONS)


def test_paragraph_windows_are_distinct_consecutive_runs_of_2_to_9():
    rng = np.random.default_rng(0)
    for num_events in range(1, 13):
        windows = demo.paragraph_windows(rng, num_events, count=12)
        assert len(set(windows)) == len(windows)
        for first, length in windows:
            assert 2 <= length <= 9 and 0 <= first and first + length <= num_events
        if num_events >= 2:
            available = sum(num_events - n + 1 for n in range(2, min(9, num_events) + 1))
            assert len(windows) == min(12, available)
        else:
            assert windows == []


def test_split_videos_is_disjoint_complete_and_holds_out_the_given_count():
    ids = [f"v{i}" for i in range(64)]
    splits = demo.split_videos(np.random.default_rng(0), ids, held_out=16)
    assert sorted(itertools.chain.from_iterable(splits.values())) == sorted(ids)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [32, 16, 16]
    with pytest.raises(ValueError, match="at least 3 videos"):
        demo.split_videos(np.random.default_rng(0), ["a", "b"], held_out=1)


def test_sentences_say_what_the_event_does():
    rng = np.random.default_rng(0)
    direction_words = {
        "left": {"left"},
        "right": {"right"},
        "up": {"up", "rises", "upward", "top"},
        "down": {"down", "sinks", "bottom"},
    }
    for script, _ in _scripts("demo", 20):
        sentences = demo_text.describe_paragraph(rng, script.events)
        assert len(sentences) == len(script.events)
        for i, (sentence, event) in enumerate(zip(sentences, script.events, strict=True)):
            assert sentence[0].isupper() and sentence.endswith(".")
            tokens = set(tokenize_sentences([sentence])[0])
            if event.action == "appear":
                assert {event.after.colour, event.shape} <= tokens, sentence
            elif "it" not in tokens:
                assert event.shape in tokens, sentence
            else:  # "it" only refers to the object of the previous sentence
                assert i > 0 and script.events[i - 1].object_id == event.object_id, sentence
            if event.action == "move":
                assert tokens & direction_words[event.detail], sentence
            if event.action == "recolour":
                assert event.after.colour in tokens, sentence
            if event.action == "shake":
                assert tokens & {"shakes", "wobbles", "jiggles", "vibrates"}, sentence


def test_word_vectors_tell_colours_shapes_and_sides_apart():
    rng = np.random.default_rng(0)
    tiny = demo.SIZES["tiny"]  # the smallest corpus the generator trains on
    corpus = demo_text.make_corpus(rng, tiny.corpus_sentences)
    tokens = tokenize_sentences(corpus)
    vectors = demo_text.train_word_vectors(tokens, seed=0, epochs=tiny.word_vector_epochs)
    assert vectors.vector_size == 300
    for group in (list(COLOURS), list(SHAPES), ["left", "right"], ["up", "down"], ["grows", "shrinks"]):
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                assert vectors.similarity(a, b) < 0.9, (a, b)


def test_render_puts_each_object_where_and_how_the_script_says():
    rng = np.random.default_rng(3)
    script = demo_script.make_script(rng, num_frames=128, fps=8.0, num_events=4)
    frames = demo_render.render_frames(script)
    assert frames.shape == (128, demo_script.FRAME_HEIGHT, demo_script.FRAME_WIDTH, 3) and frames.dtype == np.uint8
    assert (frames[0] == demo_render.BACKGROUND_RGB).all()  # nothing on stage before the first event
    for event in script.events:
        for time, state in ((event.start, event.before), (event.end, event.after)):
            frame = frames[min(math.ceil(time * script.fps), script.num_frames - 1)]
            x, y = (round(v) for v in state.xy)
            centre = frame[y, x].astype(int)
            if state.visible and event.action not in ("appear", "disappear", "blink"):
                # Exactly at the start/end the object is fully drawn with its colour at its centre.
                assert np.abs(centre - COLOURS[state.colour]).max() <= 12, (event, time)


def test_write_video_rejects_odd_frame_sizes(tmp_path):
    frames = np.zeros((4, 15, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="even frame sizes"):
        demo_render.write_video(frames, 8.0, tmp_path / "odd.mp4")
