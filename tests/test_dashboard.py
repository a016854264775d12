"""The published asv dashboard renders in a real headless Chromium: the benchmark list and a graph.

asv's pages fetch their JSON over HTTP, so html/ is served with `python -m http.server`;
their JavaScript libraries come from CDNs these machines cannot reach, so the
dashboard is first made self-contained with `pyhf-bench dashboard-offline` (the
same libraries from the npm registry).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .asv_runs import asv, small_real_run

BENCHMARK = "synthetic_models.Logpdf.time_logpdf"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("no chromium on this CI machine: .ci/run installs Debian's chromium package")
    pytest.skip("no chromium here (apt-get install chromium; .ci/run does this)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _served(html_dir):
    """``html_dir`` over HTTP on a free loopback port (asv's pages fetch their JSON); yields index.html's URL."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              cwd=html_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/index.html"
    try:
        for _ in range(50):
            try:
                urllib.request.urlopen(url, timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def served_dashboard():
    run = small_real_run()
    proc = asv(run.config, "publish")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    vendored = subprocess.run([sys.executable, "-m", "pyhf_bench.cli", "dashboard-offline", str(run.html)],
                              capture_output=True, text=True, timeout=600)
    assert vendored.returncode == 0, vendored.stderr
    with _served(run.html) as url:
        yield url


def _dom(url: str, tmp_path) -> str:
    proc = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_dashboard_lists_the_benchmarks(served_dashboard, tmp_path):
    dom = _dom(served_dashboard, tmp_path)
    assert "failed to load" not in dom, "a JavaScript library of the dashboard did not load"
    # The benchmark grid links every benchmark that has results.
    assert f'href="#{BENCHMARK}"' in dom


def test_dashboard_draws_a_graph(served_dashboard, tmp_path):
    dom = _dom(f"{served_dashboard}#{BENCHMARK}", tmp_path)
    # flot draws into canvases and writes one legend entry per plotted parameter combination.
    assert '<canvas class="flot-base"' in dom
    assert "backend-numpy; device-cpu" in dom
    png = tmp_path / "graph.png"
    proc = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile2'}",
         "--virtual-time-budget=15000", "--window-size=1280,900", f"--screenshot={png}",
         f"{served_dashboard}#{BENCHMARK}"],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0 and png.is_file(), proc.stderr[-2000:]
    import matplotlib.image

    image = matplotlib.image.imread(png)
    # A rendered page is not one flat colour: the graph frame, axes and points differ from the background.
    assert image.shape[:2] == (900, 1280) and image.reshape(-1, image.shape[-1]).std(axis=0).max() > 0.05


#: A second machine beside the committed one (a copy renamed, other hardware), as a GPU box's results would sit.
SECOND_MACHINE = {"machine": "second-box", "cpu": "Other CPU 9000", "num_cpu": "16"}


def _with_second_machine(results: Path, target: Path) -> Path:
    import json

    shutil.copytree(results, target)
    (source,) = [p.parent for p in results.glob("*/machine.json")]
    second = target / SECOND_MACHINE["machine"]
    shutil.copytree(source, second)
    info = json.loads((second / "machine.json").read_text())
    info.update(SECOND_MACHINE)
    (second / "machine.json").write_text(json.dumps(info))
    for file in second.glob("*.json"):
        if file.name != "machine.json":
            data = json.loads(file.read_text())
            data["params"]["machine"] = SECOND_MACHINE["machine"]
            file.write_text(json.dumps(data))
    return target


@pytest.fixture(scope="module")
def committed_dashboard(tmp_path_factory):
    """`pyhf-bench publish` of the committed results/ (as the Pages workflow runs it), served over HTTP.

    A renamed copy of the committed machine is published beside it, so the pages are checked with
    several machines side by side.
    """
    import json

    from asv import util

    from pyhf_bench.asvtools import history

    from .conftest import ROOT

    work = tmp_path_factory.mktemp("pages")
    repo = work / "pyhf-history"
    history.build_history(repo, log=None)  # the committed results are of the offline history's commits
    conf = util.load_json(str(ROOT / "asv.conf.json"), api_version=1, js_comments=True)
    results = _with_second_machine(ROOT / "results", work / "results")
    conf.update(version=1, benchmark_dir=str(ROOT / "benchmarks"), results_dir=str(results),
                html_dir=str(work / "html"), env_dir=str(work / "env"))
    config = work / "asv.conf.json"
    config.write_text(json.dumps(conf))
    proc = subprocess.run([sys.executable, "-m", "pyhf_bench.cli", "publish", "--config", str(config), "--repo",
                           str(repo)], capture_output=True, text=True, timeout=900, cwd=work)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with _served(work / "html") as url:
        yield work / "html", url


def test_the_committed_results_publish_with_data_for_every_machine(committed_dashboard, tmp_path):
    import glob
    import json

    from .conftest import ROOT

    html, url = committed_dashboard
    committed = sorted(p.parent.name for p in (ROOT / "results").glob("*/machine.json"))
    assert committed
    machines = committed + [SECOND_MACHINE["machine"]]
    for machine in machines:
        graphs = glob.glob(str(html / "graphs" / "**" / f"machine-{machine}" / "**" / f"{BENCHMARK}.json"),
                           recursive=True)
        points = [p for g in graphs for p in json.loads(Path(g).read_text()) if p[1] is not None]
        assert points, f"no plotted point of {BENCHMARK} for machine {machine}"
    assert (html / "regressions.json").is_file()
    dom = _dom(f"{url}#{BENCHMARK}", tmp_path)
    assert "failed to load" not in dom and '<canvas class="flot-base"' in dom
    for machine in machines:
        assert machine in dom  # the machine selector of the graph page
    # Each machine is labelled with its hardware: the selector's tooltip (asv's graphdisplay.js, drawn on
    # hover, so not in the dumped DOM) lists index.json's machine entry, which is its machine.json.
    index = json.loads((html / "index.json").read_text())
    assert index["machines"][SECOND_MACHINE["machine"]]["cpu"] == SECOND_MACHINE["cpu"]
    for machine in committed:
        info = json.loads((ROOT / "results" / machine / "machine.json").read_text())
        assert index["machines"][machine]["cpu"] == info["cpu"] and index["machines"][machine]["num_cpu"] == info["num_cpu"]
    regressions = _dom(f"{url}#regressions", tmp_path / "r")
    assert "regressions" in regressions.lower()
