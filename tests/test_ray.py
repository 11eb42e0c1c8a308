"""`--executor ray` on a local Ray started in the test: same store as the local executor."""

from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest

from conftest import write_tones

ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")

from noiseloss.config import parse_config  # noqa: E402
from noiseloss.runner.ray_executor import RayExecutor, Replica  # noqa: E402
from noiseloss.runner.run import run_experiment  # noqa: E402

SR = 32000


@pytest.fixture(scope="module")
def cluster():
    """4 CPU slots: two 1-CPU replicas and room for the driver's tasks (2 slots hang)."""
    from pathlib import Path

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    here = str(Path(__file__).resolve().parent)  # the workers import FailingReplica from here
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": here}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def config(tmp_path_factory, tiny_model_dir):
    data = write_tones(tmp_path_factory.mktemp("clips"), count=6, seconds=1.125, base_hz=200,
                       step_hz=50, noise=0.01, seed=5)
    return parse_config({
        "name": "ray", "models": [str(tiny_model_dir)], "datasets": {"d": {"path": str(data)}},
        "excerpt": {"seconds": 1.0},
        "perturbations": [{"kind": "noise", "onset_frames": 10, "level_db": -10.0,
                           "level_ref": "signal", "grid": {"length_frames": [2, 5, 10]}}]})


@pytest.fixture(scope="module")
def local_store(tmp_path_factory, config):
    out = tmp_path_factory.mktemp("local")
    assert not run_experiment(config, out).failed
    return pq.read_table(out / "results.parquet")


def stored_keys(run_dir):
    return [k for part in sorted((run_dir / "store").glob("part-*.parquet"))
            for k in pq.read_table(part, columns=["key"]).column("key").to_pylist()]


def test_two_replicas_give_the_local_store(cluster, config, local_store, tmp_path):
    executor = RayExecutor(replicas=2)
    summary = run_experiment(config, tmp_path / "ray", executor=executor)
    assert summary.done == 24 and not summary.failed
    table = pq.read_table(tmp_path / "ray" / "results.parquet")
    assert table.column("key").to_pylist() == local_store.column("key").to_pylist()
    assert table.drop(["audio"]).equals(local_store.drop(["audio"]))  # NLL bit for bit
    assert sorted(stored_keys(tmp_path / "ray")) == sorted(table.column("key").to_pylist())
    assert executor.records[config.models[0].label]["worker_pid"] != os.getpid()


def test_a_killed_replica_is_restarted_and_nothing_is_lost(cluster, config, local_store,
                                                           tmp_path):
    executor = RayExecutor(replicas=2)
    killed = []

    def on_progress(desc, done, total):  # after the first stored group: kill a busy replica
        if not killed:
            killed.append(executor.actors[0])
            ray.kill(executor.actors[0], no_restart=False)

    summary = run_experiment(config, tmp_path / "ray", executor=executor, on_progress=on_progress)
    assert killed and summary.done == 24 and not summary.failed
    table = pq.read_table(tmp_path / "ray" / "results.parquet")
    assert table.drop(["audio"]).equals(local_store.drop(["audio"]))
    keys = stored_keys(tmp_path / "ray")
    assert len(keys) == len(set(keys)) == 24


class FailingReplica(Replica):
    """Fails every group of one clip with an error that is not noiseloss's."""

    def run(self, pack, *sources):
        if any(work.group.item.item_id == "c3.wav" for work in pack):
            raise RuntimeError("GPU fell off the bus")
        return super().run(pack, *sources)


def test_a_worker_error_fails_its_group_not_the_run(cluster, config, tmp_path):
    """Batches of 8 pack two groups of 4 units: the failed pack goes again group by group."""
    import dataclasses

    packed = dataclasses.replace(config, scoring=dataclasses.replace(config.scoring,
                                                                     batch_size=8))
    summary = run_experiment(packed, tmp_path / "ray",
                             executor=RayExecutor(replicas=2, replica_class=FailingReplica))
    assert summary.done == 20
    assert list(summary.failed) == ["d/c3.wav"]
    assert "worker error" in summary.failed["d/c3.wav"]
    assert "GPU fell off the bus" in summary.failed["d/c3.wav"]
    # the rerun computes what is missing only
    again = run_experiment(config, tmp_path / "ray", executor=RayExecutor(replicas=2))
    assert again.done == 4 and again.skipped == 20 and not again.failed


def test_an_unreadable_source_read_by_a_task_fails_its_item(cluster, config, tmp_path):
    import dataclasses

    folder = tmp_path / "clips"
    folder.mkdir()
    for item in sorted(__import__("pathlib").Path(config.datasets[0].path).iterdir())[:2]:
        (folder / item.name).write_bytes(item.read_bytes())
    (folder / "broken.wav").write_bytes(b"not audio")
    broken = dataclasses.replace(config, datasets=(dataclasses.replace(
        config.datasets[0], path=str(folder)),))
    summary = run_experiment(broken, tmp_path / "ray", executor=RayExecutor(replicas=2))
    assert summary.done == 8 and list(summary.failed) == ["d/broken.wav"]
    assert "cannot read audio" in summary.failed["d/broken.wav"]


def test_a_model_that_does_not_load_fails_its_groups(cluster, config, tmp_path):
    class Broken(Replica):
        def __init__(self, *args):
            raise OSError("no such weights on this node")

    summary = run_experiment(config, tmp_path / "ray",
                             executor=RayExecutor(replicas=1, replica_class=Broken))
    assert summary.done == 0 and len(summary.failed) == 6
    assert all("no such weights on this node" in r for r in summary.failed.values())


def test_the_cli_and_its_options(cluster, config, tmp_path, capsys):
    import yaml

    from noiseloss.cli.main import main

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--executor", "ray",
                 "--replicas", "2", "--no-report"]) == 0
    assert "units: 24 done, 0 skipped" in capsys.readouterr().err
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--replicas", "2"]) == 2
    assert "need --executor ray" in capsys.readouterr().err


def test_the_local_executor_imports_no_ray(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from noiseloss.pipeline import run_pipeline; "
            "import noiseloss.runner.run; print('ray' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


def test_replicas_that_leave_no_cpu_for_the_readers_are_refused(cluster, config, tmp_path):
    """4 slots: 4 replicas (or 2 of 2 CPUs each) would starve the source readers forever;
    refused before any work, naming the numbers, and the new run folder is not left behind."""
    from noiseloss.errors import ParameterError

    for replicas, cpus in ((4, 1), (2, 2)):
        out = tmp_path / f"r{replicas}" / "run"
        with pytest.raises(ParameterError, match=rf"replicas={replicas} x cpus_per_replica="
                                                  rf"{cpus} take 4 of the cluster's 4 CPU slots"):
            run_experiment(config, out, executor=RayExecutor(replicas=replicas,
                                                             cpus_per_replica=cpus))
        assert not (tmp_path / f"r{replicas}").exists()


def test_a_killed_driver_resumes_without_loss_or_duplicates(cluster, config, local_store,
                                                            tmp_path):
    """`noiseloss run --executor ray --address auto` in a subprocess, SIGKILLed right after it
    stored its first group (an observable event), then run again: the store is the local one."""
    import signal
    import subprocess
    import sys
    import time

    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "noiseloss.cli.main", "run", str(path), "--out", str(out),
               "--executor", "ray", "--address", "auto", "--replicas", "1", "--no-report"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    while driver.poll() is None and not list((out / "store").glob("part-*.parquet")):
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    assert driver.wait(timeout=60) == -signal.SIGKILL, driver.stderr.read().decode()[-2000:]
    first = len(stored_keys(out))
    assert 0 < first < 24
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"units: {24 - first} done, {first} skipped" in again.stderr
    keys = stored_keys(out)
    assert len(keys) == len(set(keys)) == 24
    table = pq.read_table(out / "results.parquet")
    assert table.drop(["audio"]).equals(local_store.drop(["audio"]))
