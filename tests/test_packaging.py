"""The project's own files agree with each other: pins, conda envs, config schema, README."""

from __future__ import annotations

import re

import yaml
from conftest import REPO_ROOT
from snakemake.utils import validate


def _requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"requirements.txt: {line!r} is not pinned with =="
            pins[name.lower()] = version
    return pins


def test_requirements_pin_the_required_versions():
    pins = _requirement_pins()
    for name, version in {
        "torch": "2.14.1",
        "torchvision": "0.29.1",
        "decord": "0.6.0",
        "av": "18.1.0",
        "gensim": "4.4.0",
        "spacy": "3.8.18",
    }.items():
        assert pins[name] == version
    assert pins["snakemake"].startswith("9.")
    for name in ("h5py", "numpy", "pytest", "tqdm"):
        assert name in pins


def test_conda_envs_agree_with_requirements():
    pins = _requirement_pins()
    env_files = sorted((REPO_ROOT / "envs").glob("*.yaml"))
    assert env_files
    for env_file in env_files:
        env = yaml.safe_load(env_file.read_text())
        pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
        assert pip_lists, f"{env_file.name}: no pip section"
        env_pins = {}
        for spec in pip_lists[0]:
            name, sep, version = spec.partition("==")
            assert sep, f"{env_file.name}: {spec!r} is not pinned with =="
            env_pins[name.lower()] = version
        assert env_pins == pins, f"{env_file.name} disagrees with requirements.txt"


def test_every_rule_env_exists():
    """Every rule names a conda env (a path, or a name common.smk binds to one) that exists."""
    rules_dir = REPO_ROOT / "workflow" / "rules"
    names = dict(re.findall(r'^(\w+) = "([^"]+\.yaml)"$', (rules_dir / "common.smk").read_text(), flags=re.M))
    checked = 0
    for smk in sorted(rules_dir.glob("*.smk")):
        # A rule's body runs from its header to the next top-level line; `use rule` inherits its env.
        for name, body in re.findall(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t].*\n|\n)*)", smk.read_text(), flags=re.M):
            env = re.search(r'^    conda:\n\s+("([^"]+)"|(\w+))$', body, flags=re.M)
            assert env, f"{smk.name}: rule {name} declares no conda env"
            path = env.group(2) or names.get(env.group(3))
            assert path, f"{smk.name}: rule {name}: conda env {env.group(1)} is not bound in common.smk"
            assert (rules_dir / path).resolve().is_file(), f"{smk.name}: rule {name}: conda env {path} missing"
            checked += 1
    assert checked >= 12, f"only {checked} rules found: the rule pattern no longer matches the rule files"


def test_config_validates_against_schema():
    config = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())
    validate(config, str(REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"))


def test_schema_describes_every_key():
    schema = yaml.safe_load((REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())

    def walk(node, where):
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub, f"schema key {where}{key} has no description"
            assert "type" in sub or "enum" in sub, f"schema key {where}{key} has no type"
            walk(sub, f"{where}{key}.")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, f"{where}*.")

    walk(schema, "")


def test_readme_quick_start_matches_ci():
    readme = (REPO_ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```(?:bash|sh)?\n(.*?)```", quick, flags=re.S)
    lines = [ln for block in commands for ln in block.strip().splitlines() if ln.strip()]
    assert len(lines) == 3, f"Quick start must have exactly 3 commands, found {lines}"
    install, main_job, test = lines
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert install in ci and test in ci, "CI must run the README's install and test commands"
    assert main_job.startswith("snakemake ") and "results/demo/" in main_job


def test_the_schema_allows_no_more_clips_than_the_model_and_store_take():
    from hscnet.limits import MAX_CLIPS, MAX_POSITIONS

    schema = yaml.safe_load((REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    dataset = schema["properties"]["datasets"]["additionalProperties"]["properties"]
    assert dataset["num_clips"]["maximum"] == MAX_CLIPS <= MAX_POSITIONS


def test_the_commented_generic_features_example_in_config_yaml_is_a_valid_dataset():
    """Uncommented as its comment says, the example entry passes the schema (so it does not rot)."""
    lines = (REPO_ROOT / "config.yaml").read_text().splitlines()
    start = lines.index("  # tacos_i3d:")
    block = []
    for line in lines[start:]:
        if not line.startswith("  #"):
            break
        block.append(line.replace("  # ", "  ", 1))
    example = yaml.safe_load("\n".join(line[2:] for line in block))
    config = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())
    config["datasets"].update(example)
    validate(config, str(REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    assert example["tacos_i3d"]["precomputed_layout"] == "generic"
