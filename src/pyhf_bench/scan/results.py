"""A scan's result: its points (done, failed or pending) and the whole :class:`ScanResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from pyhf_bench.scan.settings import PHASES, ScanSettings


@dataclass
class Point:
    patch: str
    masses: list[float] | None
    status: str  # "ok", "failed", or "pending" (not finished yet, in a checkpoint)
    cls_obs: float | None = None
    cls_exp: list[float] | None = None  # -2, -1, 0, +1, +2 sigma
    seconds: dict = field(default_factory=dict)
    attempts: int = 0
    worker: str | None = None
    cpu_seconds: float | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class ScanResult:
    settings: ScanSettings
    analysis: str
    axes: list[str]
    points: list[Point]
    mode: str  # "serial", "LocalCluster(N)" or the scheduler address
    workers: int
    wall_seconds: float  # first task submitted to last result in (cluster start-up excluded)
    cluster_seconds: float  # starting the LocalCluster or connecting to the scheduler
    pyhf: str | None

    @property
    def failed(self) -> list[Point]:
        return [p for p in self.points if p.status == "failed"]

    @property
    def done(self) -> list[Point]:
        return [p for p in self.points if p.status == "ok"]

    @property
    def throughput(self) -> float:
        """Successful points per second of wall time."""
        return len(self.done) / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def totals(self) -> dict:
        """Seconds per phase summed over the points (across workers: CPU-side work, not wall time)."""
        totals = {phase: 0.0 for phase in (*PHASES, "total")}
        for point in self.points:
            for phase, value in point.seconds.items():
                totals[phase] += value
        return totals

    def to_json(self) -> dict:
        return {
            "likelihood": self.settings.key,
            "analysis": self.analysis,
            "backend": self.settings.backend,
            "device": self.settings.device,
            "precision": self.settings.precision,
            "optimizer": self.settings.optimizer,
            "pyhf": self.pyhf,
            "test_statistic": "qtilde",
            "poi": 1.0,
            "calculator": "asymptotic",
            "mode": self.mode,
            "workers": self.workers,
            "points_total": len(self.points),
            "points_failed": [p.patch for p in self.failed],
            "points_pending": [p.patch for p in self.points if p.status == "pending"],
            "wall_seconds": self.wall_seconds,
            "cluster_seconds": self.cluster_seconds,
            "throughput_points_per_second": self.throughput,
            "seconds_by_phase": self.totals(),
            "cpu_seconds": sum(p.cpu_seconds or 0.0 for p in self.points),
            "mass_axes": self.axes,
            "points": [asdict(p) for p in self.points],
        }



def describe_error(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def record_outcome(point: Point, outcome: dict) -> None:
    point.status = "ok"
    point.cls_obs = outcome["cls_obs"]
    point.cls_exp = outcome["cls_exp"]
    point.seconds = outcome["seconds"]
    point.worker = outcome["worker"]
    point.cpu_seconds = outcome["cpu_seconds"]

