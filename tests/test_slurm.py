"""The workflow on a real SLURM cluster (.ci/slurm-cluster up) through profiles/slurm.

Runs the cluster command of docs/cluster.md on a copy of the repository: every job that is not a local rule
must go through SLURM (the scheduler's accounting shows it COMPLETED under our account and
partition), the metrics must equal a local run's, a failing job is retried as the profile says and
then reported, and a run interrupted with Ctrl-C resumes with the same command.

Without a cluster the tests skip; CI (.ci/run) starts one and sets HSCNET_SLURM=1 so that a
missing cluster fails instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ACCOUNT = PARTITION = "ci"  # made by .ci/slurm-cluster
TARGET = "results/tiny/metrics.json"
CPU_ONLY = {"extraction": {"device": "cpu"}, "train": {"device": "cpu"}}  # the CI cluster has no GPUs
SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid (\d+)", re.MULTILINE)


def _cluster_problem() -> str | None:
    if not shutil.which("sbatch"):
        return "SLURM commands not installed"
    result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, check=False)
    states = result.stdout.split()
    if result.returncode != 0 or not {"idle", "mixed", "allocated"} & set(states):
        return f"no SLURM node up (sinfo: {(result.stdout + result.stderr).strip() or 'nothing'})"
    return None


@pytest.fixture(scope="module")
def cluster():
    problem = _cluster_problem()
    if problem:
        message = f"{problem}; start one with `.ci/slurm-cluster up` (as root)"
        if os.environ.get("HSCNET_SLURM") == "1":
            pytest.fail(f"HSCNET_SLURM=1 but {message}")
        pytest.skip(message)


def _copy_repository(dest: Path) -> Path:
    """The checkout's tracked and untracked-but-not-ignored files, as a user's clone would have them."""
    listed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    (dest / "cpu.yaml").write_text(yaml.safe_dump(CPU_ONLY))
    return dest


def _environment() -> dict[str, str]:
    # rules call `python`: this interpreter's, on the node too (sbatch exports the environment)
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def _slurm_command(*targets: str, configfiles: tuple[str, ...] = ()) -> list[str]:
    """docs/cluster.md's command (targets first: the options after them take several values)."""
    return [
        sys.executable, "-m", "snakemake", *targets,
        "--workflow-profile", "profiles/slurm",
        "--slurm-init-seconds-before-status-checks", "2",  # default 40 s: far longer than a tiny job
        "--default-resources", f"slurm_account={ACCOUNT}", f"slurm_partition={PARTITION}",
        "--configfile", "config.yaml", "tests/config/tiny.yaml", "cpu.yaml", *configfiles,
    ]  # fmt: skip


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=timeout, check=False
    )


def _accounting(job_ids: list[str]) -> dict[str, dict[str, str]]:
    """{SLURM job id: {state, account, partition, comment}} from sacct (slurmdbd), waiting for the
    final state of each job to be recorded."""
    fields = ["JobIDRaw", "State", "Account", "Partition", "Comment"]
    for _ in range(30):
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "-o", ",".join(fields)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        rows = {
            line.split("|")[0]: dict(zip(fields[1:], line.split("|")[1:], strict=True)) for line in out.splitlines()
        }
        if set(rows) == set(job_ids) and not any(r["State"] in ("PENDING", "RUNNING") for r in rows.values()):
            return rows
        time.sleep(1)
    raise AssertionError(f"sacct does not show the final state of jobs {job_ids}:\n{out}")


def _started_locally(log: str) -> list[str]:
    """Rule of each job Snakemake ran itself (a local rule: 'localrule <name>:' in its log)."""
    return re.findall(r"^local(?:rule|checkpoint) (\w+):$", log, re.MULTILINE)


def _finished(log: str) -> list[str]:
    return re.findall(r"^Finished jobid: \d+ \(Rule: (\w+)\)$", log, re.MULTILINE)


def _rule_of(record: dict[str, str]) -> str:
    """The rule of a SLURM job, from the comment the executor gives it (rule_<name>_wildcards_<values>)."""
    return re.match(r"rule_(\w+?)(?:_wildcards_|$)", record["Comment"])[1]


def _outputs_of_job(log: str, jobid: str) -> list[str]:
    block = re.search(rf"^\s+output: (.*)\n(?:\s+\w+: .*\n)*?\s+jobid: {jobid}$", log, re.MULTILINE)
    assert block, f"no output line for Snakemake job {jobid}"
    return block[1].split(", ")


def test_failing_job_is_retried_per_profile_then_reported(cluster, tmp_path):
    repo = _copy_repository(tmp_path)
    (repo / "data/tiny").mkdir(parents=True)
    (repo / "data/tiny/broken.txt").write_text("the 0.1 0.2 0.3\ncat 0.1 oops 0.3\n")
    (repo / "broken.yaml").write_text(yaml.safe_dump({"datasets": {"tiny": {"glove": "data/tiny/broken.txt"}}}))
    restarts = yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text())["restart-times"]

    result = _run(_slurm_command("results/vectors/data_tiny_broken", configfiles=("broken.yaml",)), repo)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    job_ids = [slurm_id for _, slurm_id in SUBMITTED.findall(log)]
    assert len(job_ids) == 1 + restarts, log[-3000:]
    records = _accounting(job_ids)
    assert {r["State"] for r in records.values()} == {"FAILED"}, records
    assert all("convert_vectors" in r["Comment"] for r in records.values()), records
    # reported: Snakemake names the failed rule and shows the job's log, which names the bad line
    assert "Error in rule convert_vectors" in log
    assert "broken.txt: line 2: malformed vector" in log
    assert not (repo / "results/vectors/data_tiny_broken").exists()


def test_tiny_workflow_through_slurm_equals_local_run_and_resumes(cluster, tmp_path):
    # the local reference runs beside the cluster run (same seeds and config, default profile)
    local_repo = _copy_repository(tmp_path / "local")
    local = _start(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--cores",
            "2",
            TARGET,
            "--configfile",
            "config.yaml",
            "tests/config/tiny.yaml",
            "cpu.yaml",
        ],
        local_repo,
        tmp_path / "local.log",
    )
    repo = _copy_repository(tmp_path / "slurm")

    # 1. Interrupted: Ctrl-C (SIGINT, Snakemake in the foreground) while C3D extraction runs on the node
    first = _start(_slurm_command(TARGET), repo, tmp_path / "interrupted.log")
    deadline = time.monotonic() + 300
    while not _extraction_running(repo):
        assert first.poll() is None and time.monotonic() < deadline, "no extract_features job ever ran on SLURM"
        time.sleep(1)
    time.sleep(3)  # inside the job's Python by now
    first.send_signal(signal.SIGINT)
    first.wait(timeout=120)
    first_log = (tmp_path / "interrupted.log").read_text()
    assert first.returncode != 0, first_log[-3000:]
    first_jobs = dict(SUBMITTED.findall(first_log))  # Snakemake job id -> SLURM job id
    first_records = _accounting(list(first_jobs.values()))
    cancelled = {jid for jid, sid in first_jobs.items() if first_records[sid]["State"].startswith("CANCELLED")}
    assert cancelled, f"Ctrl-C cancelled no SLURM job: {first_records}"
    assert {r["State"].split()[0] for r in first_records.values()} <= {"COMPLETED", "CANCELLED"}, first_records
    for jobid in cancelled:  # a cancelled job leaves no output behind to be taken for a finished one
        for output in _outputs_of_job(first_log, jobid):
            assert not (repo / output).exists(), f"{output} of a cancelled job exists"

    # 2. Resumed: the same command finishes the run
    second = _start(_slurm_command(TARGET), repo, tmp_path / "resumed.log")
    second.wait(timeout=600)
    second_log = (tmp_path / "resumed.log").read_text()
    assert second.returncode == 0, second_log[-4000:]
    second_records = _accounting([sid for _, sid in SUBMITTED.findall(second_log)])
    assert {r["State"] for r in second_records.values()} == {"COMPLETED"}, second_records

    assert local.wait(timeout=600) == 0, (tmp_path / "local.log").read_text()[-4000:]
    planned = _finished((tmp_path / "local.log").read_text())  # every job of the DAG, once

    # Every job of the plan was done once: a local rule by Snakemake itself, every other one by a
    # COMPLETED SLURM job (in either run: one may finish in SLURM just before Ctrl-C reaches Snakemake),
    # under the account and partition given on the command line.
    local_rules = set(_started_locally(first_log) + _started_locally(second_log))
    assert local_rules, "no local rule ran on the driver"
    completed = [r for r in [*first_records.values(), *second_records.values()] if r["State"] == "COMPLETED"]
    on_cluster = sorted(map(_rule_of, completed))
    assert on_cluster == sorted(rule for rule in planned if rule not in local_rules)
    run_locally = [rule for rule in _finished(first_log) + _finished(second_log) if rule in local_rules]
    assert sorted(run_locally) == sorted(rule for rule in planned if rule in local_rules)
    assert all((r["Account"], r["Partition"]) == (ACCOUNT, PARTITION) for r in completed), completed

    # same seeds, same config: the same numbers, wherever the jobs ran
    assert json.loads((repo / TARGET).read_text()) == json.loads((local_repo / TARGET).read_text())
    predictions = "results/tiny/predictions.json"
    assert (repo / predictions).read_bytes() == (local_repo / predictions).read_bytes()


def _start(cmd: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start a command in the foreground process group (Ctrl-C reaches it), output to a file."""
    with open(log, "w") as out:
        # A shell that runs us in the background (`cmd &`) ignores SIGINT for its children, and Python keeps an
        # ignored SIGINT ignored: restore the default so that Snakemake gets Ctrl-C as in a terminal.
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def _extraction_running(repo: Path) -> bool:
    jobs = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%Z|%k"], capture_output=True, text=True, check=True
    ).stdout
    return any(line.startswith(f"{repo}|rule_extract_features_") for line in jobs.splitlines())


def test_the_cluster_comes_up_beside_a_database_that_has_other_slurm_users(cluster):
    """A machine whose MariaDB already runs, with a 'slurm' user of another password and ours left with a
    stale one: `up` brings accounting up anyway (its own user, its password set again) and leaves the other alone."""
    script = str(REPO_ROOT / ".ci" / "slurm-cluster")
    subprocess.run([script, "down"], check=True, capture_output=True)
    Path("/run/mysqld").mkdir(exist_ok=True)
    shutil.chown("/run/mysqld", "mysql", "mysql")
    subprocess.Popen(
        ["/usr/sbin/mariadbd", "--user=mysql", "--pid-file=/run/mysqld/mysqld.pid"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(60):
        if subprocess.run(["mariadb-admin", "ping"], capture_output=True).returncode == 0:
            break
        time.sleep(1)
    sql = (
        "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'another-setups-password';"
        "CREATE USER IF NOT EXISTS 'hscnet_ci_slurm'@'localhost' IDENTIFIED BY 'stale';"
        "ALTER USER 'hscnet_ci_slurm'@'localhost' IDENTIFIED BY 'stale';"
    )
    subprocess.run(["mariadb", "-e", sql], check=True, capture_output=True)
    up = subprocess.run([script, "up"], capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    clusters = subprocess.run(
        ["sacctmgr", "-n", "-P", "show", "cluster", "format=cluster"], capture_output=True, text=True
    )
    assert clusters.returncode == 0 and clusters.stdout.split() == ["hscnet-ci"], clusters.stdout + clusters.stderr
    # the other setup's user still logs in with its own password
    other = ["mariadb", "-u", "slurm", "-panother-setups-password", "-e", "SELECT 1"]
    assert subprocess.run(other, capture_output=True).returncode == 0
    subprocess.run(["mariadb", "-e", "DROP USER 'slurm'@'localhost'"], check=True, capture_output=True)
