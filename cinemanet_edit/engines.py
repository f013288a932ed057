"""Engines that map ``archive.index_file`` over many files: in this process, or on a Ray cluster.

An engine is opened once (``open_engine``), given files (``run``: one ``FileResult`` per file as each
finishes, in any order) as often as there are files, and closed; the caller writes each result to the
catalogue at once, so whatever the engine does when it is stopped, finished files are kept. Engines are
registered by name, the way PySceneDetect registers its video backends.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from .archive import AnalyzerSpec, FileResult, MediaFile, index_file
from .errors import CinemanetError


@dataclass(frozen=True)
class EngineOptions:
    workers: int = 1  # Ray: actors, each holding the models once; local: always one
    address: str | None = None  # Ray: a cluster's address (else RAY_ADDRESS, else a local Ray)


class LocalEngine:
    """The embedded default: one file after another in this process, the models loaded once (on first use,
    kept for every later run of the same engine: a watch's rounds)."""

    name = "local"

    def __init__(self, spec: AnalyzerSpec, options: EngineOptions):
        self.spec = spec
        self._analyzer = None

    def run(self, files: list[MediaFile]) -> Iterator[FileResult]:
        for media in files:
            if self._analyzer is None:
                self._analyzer = self.spec.build()
            yield index_file(media, self._analyzer)

    def close(self) -> None:
        self._analyzer = None


class _Indexer:
    """A Ray actor: loads the models once, then indexes the files it is given."""

    def __init__(self, spec: AnalyzerSpec):
        import ray

        if spec.runtime is None and ray.get_gpu_ids():  # LiteRT runs on the CPU; Keras takes the GPU
            spec = AnalyzerSpec(spec.batch_size, "keras")
        self.analyzer = spec.build()

    def index(self, media: MediaFile) -> FileResult:
        return index_file(media, self.analyzer)


class RayEngine:
    """Ray actors (``options.workers`` of them) over the files; an actor whose process dies is restarted and
    its file retried by Ray. With a GPU in the cluster each actor takes a share of one. Ray is started (or
    joined) and the actors made when the first file comes, and kept until ``close``: a watch's later rounds
    start on actors that already hold the models."""

    name = "ray"

    def __init__(self, spec: AnalyzerSpec, options: EngineOptions):
        self.spec, self.options = spec, options
        self._pool = None
        self._started_here = False

    def run(self, files: list[MediaFile]) -> Iterator[FileResult]:
        if not files:
            return
        pool = self._pool or self._start()
        yield from pool.map_unordered(lambda a, m: a.index.remote(m), files)

    def _start(self):
        try:
            import ray
            from ray.util import ActorPool
        except ImportError as exc:
            raise CinemanetError("--engine ray needs Ray: pip install 'cinemanet-edit[ray]'") from exc
        if not ray.is_initialized():
            _init_ray(self.options)
            self._started_here = True
        gpus = ray.cluster_resources().get("GPU", 0.0)
        share = min(1.0, gpus / self.options.workers) if gpus else 0.0
        actor = ray.remote(num_cpus=1, num_gpus=share, max_restarts=-1, max_task_retries=-1)(_Indexer)
        self._pool = ActorPool([actor.remote(self.spec) for _ in range(self.options.workers)])
        return self._pool

    def close(self) -> None:
        self._pool = None
        if self._started_here:
            import ray

            ray.shutdown()
            self._started_here = False


def _init_ray(options: EngineOptions) -> None:
    import logging

    import ray

    address = options.address or os.environ.get("RAY_ADDRESS")
    if address:
        _check_reachable(address)
    ours = signal.getsignal(signal.SIGTERM)  # ray.init puts in its own, which exits at once (status 15)
    try:
        if address:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        else:
            ray.init(num_cpus=options.workers, include_dashboard=False, logging_level=logging.ERROR,
                     log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise CinemanetError(f"cannot start or reach Ray ({address or 'local'}): {exc}") from exc
    finally:
        if threading.current_thread() is threading.main_thread() and ours is not None:
            signal.signal(signal.SIGTERM, ours)  # SIGTERM ends a run as Ctrl-C does: finished files kept


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


class Engine(Protocol):
    """What ``run_index`` needs of an engine: results for files as each finishes, and an end."""

    name: str

    def run(self, files: list[MediaFile]) -> Iterator[FileResult]: ...

    def close(self) -> None: ...


ENGINES: dict[str, Callable[[AnalyzerSpec, EngineOptions], Engine]] = {"local": LocalEngine, "ray": RayEngine}


@contextmanager
def open_engine(name: str, spec: AnalyzerSpec | None = None, options: EngineOptions | None = None) -> Iterator[Engine]:
    """The engine registered as ``name``, closed (Ray shut down if it was started for it) on leaving."""
    if name not in ENGINES:
        raise CinemanetError(f"unknown engine {name!r} (engines: {', '.join(ENGINES)})")
    engine = ENGINES[name](spec or AnalyzerSpec(), options or EngineOptions())
    try:
        yield engine
    finally:
        engine.close()
