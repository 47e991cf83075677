"""The demo learnability probe's parts: clip selection and the video-wise cross-validated linear probe.

The probe run on real generated clips is the slow test in test_demo_data.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from hscnet.demo import probe as demo_probe


def _events_json() -> dict:
    return {
        "fps": 8.0,
        "videos": {
            "v0": {
                "num_frames": 120,
                "events": [
                    {"start": 0.5, "end": 2.9, "action": "appear", "colour": "red", "detail": "left top"},
                    {"start": 3.5, "end": 7.0, "action": "move", "colour": "red", "detail": "right"},
                    {"start": 7.5, "end": 9.0, "action": "recolour", "colour": "red", "detail": "blue"},
                    {"start": 13.5, "end": 14.9, "action": "blink", "colour": "blue", "detail": None},
                ],
            },
        },
    }


def test_select_clips_lie_inside_their_events_with_the_right_labels():
    clips = demo_probe.select_clips(_events_json(), ["v0"], clips_per_event=2)
    by_action = {}
    for clip in clips:
        by_action.setdefault(clip.action, []).append(clip)
        assert 0 <= clip.first_frame <= 120 - demo_probe.CLIP_FRAMES
    # 3.5..7.0 s = frames 28..56: long enough for a clip at each end; 0.5..2.9 s (frames 4..23) is not.
    assert [c.first_frame for c in by_action["move"]] == [28, 40]
    assert [c.first_frame for c in by_action["appear"]] == [5]
    assert by_action["move"][0].direction == "right" and by_action["appear"][0].direction is None
    assert by_action["recolour"][0].colour is None, "the colour changes during a recolour clip"
    assert by_action["move"][0].colour == "red"
    # A short event at the end: the centred clip is shifted back inside the video.
    assert by_action["blink"][0].first_frame == 120 - demo_probe.CLIP_FRAMES
    with pytest.raises(ValueError, match="clips_per_event"):
        demo_probe.select_clips(_events_json(), ["v0"], clips_per_event=3)


def test_probe_finds_a_linear_signal_and_not_a_missing_one():
    rng = np.random.default_rng(0)
    num_videos, per_video, dim = 12, 10, 256
    labels = [str(rng.integers(3)) for _ in range(num_videos * per_video)]
    groups = [f"v{i // per_video}" for i in range(len(labels))]
    noise = rng.normal(size=(len(labels), dim)).astype(np.float32)
    directions = rng.normal(size=(3, dim)).astype(np.float32)
    signal = noise + 1.5 * directions[[int(label) for label in labels]]
    separable = demo_probe.probe_accuracy(signal, labels, groups)
    assert separable["accuracy"] >= 0.9 and separable["classes"] == ["0", "1", "2"]
    chance = demo_probe.probe_accuracy(noise, labels, groups)
    assert chance["accuracy"] <= 0.55  # 3 balanced classes: 1/3 expected
    assert 0.2 <= chance["majority_baseline"] <= 0.5 and chance["uniform_chance"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="at least 2 videos"):
        demo_probe.probe_accuracy(noise[:5], labels[:5], ["v0"] * 5)
