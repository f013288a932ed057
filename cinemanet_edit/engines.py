"""Engines that map ``archive.index_file`` over many files: in this process, or on a Ray cluster.

An engine takes the files still to do and yields one ``FileResult`` per file as each finishes (in any order);
the caller writes each to the catalogue at once, so whatever the engine does when it is stopped, finished
files are kept. Engines are registered by name, the way PySceneDetect registers its video backends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .archive import AnalyzerSpec, FileResult, MediaFile, index_file
from .errors import CinemanetError


@dataclass(frozen=True)
class EngineOptions:
    workers: int = 1  # Ray: actors, each holding the models once; local: always one
    address: str | None = None  # Ray: a cluster's address (else RAY_ADDRESS, else a local Ray)


def local_engine(files: list[MediaFile], spec: AnalyzerSpec, options: EngineOptions) -> Iterator[FileResult]:
    """The embedded default: one file after another in this process, the models loaded once."""
    analyzer = spec.build()
    for media in files:
        yield index_file(media, analyzer)


class _Indexer:
    """A Ray actor: loads the models once, then indexes the files it is given."""

    def __init__(self, spec: AnalyzerSpec):
        import ray

        if spec.runtime is None and ray.get_gpu_ids():  # LiteRT runs on the CPU; Keras takes the GPU
            spec = AnalyzerSpec(spec.batch_size, "keras")
        self.analyzer = spec.build()

    def index(self, media: MediaFile) -> FileResult:
        return index_file(media, self.analyzer)


def ray_engine(files: list[MediaFile], spec: AnalyzerSpec, options: EngineOptions) -> Iterator[FileResult]:
    """Ray actors (``options.workers`` of them) over the files; an actor whose process dies is restarted and
    its file retried by Ray. With a GPU in the cluster each actor takes a share of one."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:
        raise CinemanetError("--engine ray needs Ray: pip install 'cinemanet-edit[ray]'") from exc
    import logging

    address = options.address or os.environ.get("RAY_ADDRESS")
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            _check_reachable(address)
        try:
            if address:
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
            else:
                ray.init(num_cpus=options.workers, include_dashboard=False, logging_level=logging.ERROR,
                         log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise CinemanetError(f"cannot start or reach Ray ({address or 'local'}): {exc}") from exc
    try:
        gpus = ray.cluster_resources().get("GPU", 0.0)
        share = min(1.0, gpus / options.workers) if gpus else 0.0
        actor = ray.remote(num_cpus=1, num_gpus=share, max_restarts=-1, max_task_retries=-1)(_Indexer)
        pool = ActorPool([actor.remote(spec) for _ in range(options.workers)])
        yield from pool.map_unordered(lambda a, m: a.index.remote(m), files)
    finally:
        if started_here:
            ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Ray waits a long time for a head that is not there: try its port first, for a one-line error now."""
    import socket

    target = address.split("://", 1)[-1]
    if target in ("auto", "local") or ":" not in target:
        return
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise CinemanetError(f"cannot start or reach Ray ({address}): nothing answers there ({exc})") from exc


Engine = Callable[[list[MediaFile], AnalyzerSpec, EngineOptions], Iterator[FileResult]]
ENGINES: dict[str, Engine] = {"local": local_engine, "ray": ray_engine}
