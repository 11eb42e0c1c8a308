"""Scale-out on Ray: the same units of work in an actor pool, the same store, one writer.

::

    driver (this process)                 Ray cluster
      plan groups, skip stored units  ->    CPU tasks: read_source(item) (decode, resample, render)
                                                 | object store
      append each result to the store <-    replica 1 (model on GPU 0): execute_pack(p1, sources)
      (the only writer; atomic parts)       replica 2 (model on GPU 1): execute_pack(p2, sources)
                                            ...  one replica per GPU, or per CPU slot

Sources are read by CPU tasks, ahead of the replicas; each replica loads its model once and runs
``execute_pack`` (perturb, encode with the model's codec, score, build rows) on packs of whole
groups that fill a batch (``runner.run.packs``), so the clean excerpt and its perturbations
stay together on one replica. Results stream back as packs finish (``ray.wait``) and are
appended at once: a killed driver loses only the groups in flight, and a rerun computes only
what is missing. A killed replica is restarted by Ray and its packs are retried; when a
worker fails for good, the groups of its pack go again one by one, and a group that fails
alone is listed as failed with the reason; the run goes on.

Plain actors rather than Ray Data: the unit is a pack of groups of a few sequences, not a row
stream; one writer that appends a part per finished group keeps the store's atomic, resumable
protocol unchanged, where a Dataset would either write through its own datasinks (many
writers) or hold results until the end.
"""

from __future__ import annotations

import os

import ray

from noiseloss.errors import ParameterError
from noiseloss.runner.run import (
    GroupResult,
    Work,
    batch_sizes,
    execute_pack,
    packs,
    read_source,
    used_seconds,
)


class Replica:
    """One model replica: loads the model once and runs the unit of work on packs."""

    def __init__(self, spec, info, options, config, threads: int):
        import dataclasses

        import torch

        from noiseloss.models import load_model

        torch.set_num_threads(max(int(threads), 1))
        self.config = config
        self.scorer = load_model(spec.name, backend=spec.backend, info=info,
                                 **dataclasses.asdict(options))

    def provenance(self) -> dict:
        """The model's provenance as the local executor records it, rate, resampler, modality."""
        return {**self.scorer.provenance(), "worker_pid": os.getpid(),
                "sample_rate": self.scorer.sample_rate, "resampler": self.scorer.resampler,
                "modality": self.scorer.modality}

    def run(self, pack: list[Work], *sources) -> list[GroupResult]:
        """``execute_pack`` (``sources``: each group's ``read_source``, read by tasks)."""
        return execute_pack(pack, self.scorer, self.config, sources=list(sources) or None)


class RayExecutor:
    """Run the groups of an experiment on a Ray cluster.

    Args:
        address: ``None`` (the Ray session of this process, else a new local one), ``"auto"``
            (the cluster this machine belongs to) or ``HOST:PORT``.
        replicas: Model replicas; None: one per GPU when the cluster has GPUs and
            ``gpus_per_replica > 0``, else one per CPU slot left after one for the driver.
        gpus_per_replica: GPUs each replica holds; None: 1 when the cluster has GPUs, else 0.
        cpus_per_replica: CPU slots each replica holds (and its torch threads).
        in_flight: Packs of groups queued per replica, so that none waits between them.
        replica_class: The replica implementation (tests substitute one).
    """

    def __init__(self, *, address: str | None = None, replicas: int | None = None,
                 gpus_per_replica: float | None = None, cpus_per_replica: int = 1,
                 in_flight: int = 2, replica_class=Replica):
        for name, value in (("replicas", replicas), ("cpus_per_replica", cpus_per_replica),
                            ("in_flight", in_flight)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ParameterError(f"{name} must be a positive integer, got {value!r}")
        if gpus_per_replica is not None and gpus_per_replica < 0:
            raise ParameterError(f"gpus_per_replica must be >= 0, got {gpus_per_replica!r}")
        self.address, self.replicas = address, replicas
        self.gpus_per_replica, self.cpus_per_replica = gpus_per_replica, cpus_per_replica
        self.in_flight, self.replica_class = in_flight, replica_class
        self.records: dict[str, dict] = {}
        self.actors: list = []

    def _connect(self) -> None:
        if not ray.is_initialized():
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            ray.init(address=self.address, log_to_driver=False, include_dashboard=False)

    def _shape(self) -> tuple[int, float]:
        resources = ray.cluster_resources()
        gpus = self.gpus_per_replica
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
        cpus = resources.get("CPU", 1)
        count = self.replicas
        if count is None:
            count = int(resources.get("GPU", 0) // gpus) if gpus > 0 else \
                int(cpus // self.cpus_per_replica) - 1
        count = max(count, 1)
        if count * self.cpus_per_replica > cpus - 1:  # the source readers would wait forever
            raise ParameterError(
                f"replicas={count} x cpus_per_replica={self.cpus_per_replica} take "
                f"{count * self.cpus_per_replica} of the cluster's {cpus:g} CPU slots; one must "
                f"stay free for the tasks that read the sources: give replicas <= "
                f"{max(int((cpus - 1) // self.cpus_per_replica), 0)} (or a larger cluster)")
        return count, gpus

    def run(self, work: list[Work], *, config, models: dict):
        """Yield a ``GroupResult`` per work item, in the order their packs finish."""
        if not work:
            return
        self._connect()
        count, gpus = self._shape()
        remote = ray.remote(self.replica_class)
        for label, (spec, info, options) in models.items():
            queue = [w for w in work if w.group.model == label]
            if not queue:
                continue
            self.actors = [remote.options(num_cpus=self.cpus_per_replica, num_gpus=gpus,
                                          max_restarts=-1, max_task_retries=3).remote(
                spec, info, options, config, self.cpus_per_replica) for _ in range(count)]
            try:
                try:
                    self.records[label] = ray.get(self.actors[0].provenance.remote())
                except Exception as exc:  # the model cannot be loaded on the workers
                    for item in queue:
                        yield _failure(item, exc)
                    continue
                yield from self._drain(packs(queue, capacity=batch_sizes(models)),
                                       sample_rate=self.records[label]["sample_rate"],
                                       resampler=self.records[label]["resampler"],
                                       modality=self.records[label]["modality"],
                                       max_seconds=used_seconds(config))
            finally:
                for actor in self.actors:
                    ray.kill(actor)
                self.actors = []

    def _drain(self, queue: list[list[Work]], *, sample_rate: int | None, resampler: str,
               modality: str, max_seconds: float | None):
        pending = {}
        read = ray.remote(num_cpus=1)(read_source)

        def submit(actor):
            if queue:
                pack = queue.pop(0)
                sources = [read.remote(item.group.item, sample_rate=sample_rate,
                                       max_seconds=max_seconds, modality=modality,
                                       resampler=resampler)
                           for item in pack]
                pending[actor.run.remote(pack, *sources)] = (pack, actor)

        for actor in self.actors:
            for _ in range(self.in_flight):
                submit(actor)
        while pending:
            [ready], _ = ray.wait(list(pending), num_returns=1)
            pack, actor = pending.pop(ready)
            try:
                results = ray.get(ready)
            except Exception as exc:  # a worker's failure fails its group, never the run
                if len(pack) > 1:  # which group failed: each goes again alone
                    queue[:0] = [[item] for item in pack]
                    results = []
                else:
                    results = [_failure(pack[0], exc)]
            submit(actor)
            yield from results


def _failure(item: Work, exc: Exception) -> GroupResult:
    """The result of a group whose worker failed: no rows, the group listed with the reason."""
    text = str(exc).strip()
    reason = text.splitlines()[-1] if text else repr(exc)
    return GroupResult(item.group, [], {}, {item.group.label: f"worker error: {reason}"}, 0)
