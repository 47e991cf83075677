"""ModelConfig presets, validation, serialisation and the ablation rows of Tables 2-4."""

import dataclasses

import pytest
import yaml
from conftest import REPO_ROOT

from hscnet import presets
from hscnet.ablations import ablation_rows
from hscnet.model import ABLATION_TABLES, PRESETS, ModelConfig, ablation_config
from hscnet.training_config import TRAIN_PRESETS, TrainConfig


def test_paper_presets():
    tacos, anet = ModelConfig.preset("tacos"), ModelConfig.preset("activitynet")
    assert (tacos.word_layers, tacos.sentence_layers, tacos.paragraph_layers) == (3, 3, 3)
    assert (anet.word_layers, anet.sentence_layers, anet.paragraph_layers) == (1, 1, 1)
    for cfg in (tacos, anet):
        assert cfg.hidden_dim == 256 and cfg.tau == 0.2 and cfg.feature_layers == 3
    assert tacos.video_dim == 4096 and anet.video_dim == 500 and tacos.word_dim == anet.word_dim == 300
    for name in ("demo", "tiny"):
        cfg = ModelConfig.preset(name)
        assert set(cfg.levels) == {"word", "sentence", "paragraph"} and set(cfg.decoders) == {"paragraph", "word"}


def test_paper_training_presets():
    tacos, anet = TrainConfig.preset("tacos"), TrainConfig.preset("activitynet")
    assert (tacos.batch_size, anet.batch_size, tacos.lr, anet.lr) == (16, 32, 1e-4, 1e-4)
    assert TrainConfig.preset("tacos", batch_size=None, lr=2e-4) == TrainConfig(batch_size=16, epochs=100, lr=2e-4)


def test_model_and_training_presets_and_the_workflow_schema_share_one_table():
    """A preset is added in hscnet/presets.py; the schema's enum (YAML, which cannot import it) must list it too."""
    schema = yaml.safe_load((REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    dataset = schema["properties"]["datasets"]["additionalProperties"]["properties"]
    names = list(presets.PRESETS)
    assert dataset["model_preset"]["enum"] == names
    assert list(PRESETS) == list(TRAIN_PRESETS) == names
    for name, preset in presets.PRESETS.items():
        assert PRESETS[name] == preset.model and TRAIN_PRESETS[name] == preset.train
        # every field is one the configs know (an unknown one raises TypeError)
        assert ModelConfig.preset(name) == ModelConfig(**preset.model)
        assert TrainConfig.preset(name) == TrainConfig(**preset.train)


def test_model_config_is_the_architecture_only():
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    assert not fields & {"batch_size", "epochs", "lr", "num_clips"}
    # a config written before training settings left it still reads
    assert ModelConfig.from_dict({**ModelConfig().to_dict(), "batch_size": 8, "lr": 5e-4}) == ModelConfig()


def test_preset_overrides_and_unknown_preset():
    assert ModelConfig.preset("tiny", video_dim=500).video_dim == 500
    with pytest.raises(ValueError, match="unknown model preset 'nope'"):
        ModelConfig.preset("nope")


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(levels=("word", "paragraph")), "must contain 'sentence'"),
        (dict(levels=("sentence", "phrase")), "unknown level"),
        (dict(levels=("sentence",), align_losses=("word", "sentence"), decoders=()), "align_losses"),
        (dict(levels=("sentence", "paragraph"), align_losses=("sentence",), decoders=("word",)), "decoders"),
        (dict(hidden_dim=30, num_heads=4), "divisible"),
        (dict(tau=0.0), "positive"),
    ],
)
def test_invalid_configs_raise(fields, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**fields)


def test_switch_order_does_not_matter():
    a = ModelConfig(levels=["paragraph", "sentence"], align_losses=("sentence",), decoders=())
    assert a == ModelConfig(levels=("sentence", "paragraph"), align_losses=["sentence"], decoders=[])
    assert a.levels == ("sentence", "paragraph")


def test_dict_round_trip_accepts_lists():
    cfg = ablation_config(ModelConfig.preset("demo"), table=2, row="SL+WL")
    data = cfg.to_dict()
    assert isinstance(data["levels"], list)
    assert ModelConfig.from_dict(data) == cfg
    with pytest.raises(ValueError, match="unknown field"):
        ModelConfig.from_dict({**data, "bogus": 1})


def test_every_paper_row_is_listed():
    rows = ablation_rows()
    assert len(rows) == 4 + 8 + 4
    # Table 3 covers all 8 subsets of the alignment losses.
    subsets = {frozenset(ablation_config(ModelConfig(), 3, row).align_losses) for _, row in rows if _ == 3}
    assert len(subsets) == 8


def test_ablation_rows_semantics():
    base = ModelConfig.preset("tiny")
    sl = ablation_config(base, 2, "SL")
    assert sl.levels == ("sentence",) and sl.decoders == () and sl.align_losses == ("sentence",)
    assert set(ablation_config(base, 2, "SL+PL").decoders) == {"paragraph"}
    assert set(ablation_config(base, 4, "SD+WD").decoders) == {"word"}
    assert set(ablation_config(base, 4, "SD+WD").align_losses) == {"word", "sentence", "paragraph"}
    # A table row is applied on top of the full model, whatever switches the base had.
    assert ablation_config(sl, 3, "W").levels == ("word", "sentence", "paragraph")
    assert dataclasses.replace(ablation_config(base, 3, "none"), align_losses=base.align_losses) == base
    with pytest.raises(ValueError, match="no row"):
        ablation_config(base, 2, "WL")
    with pytest.raises(ValueError, match="no ablation table 5"):
        ablation_config(base, 5, "SL")
    assert set(ABLATION_TABLES) == {2, 3, 4}
