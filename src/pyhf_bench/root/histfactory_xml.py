"""HistFactory XML + ROOT files from a pyhf spec and back (pyhf's writexml/readxml), and an XML's StatErrorConfig.

uproot (which pyhf's XML code needs) and pyhf are imported inside functions: both are optional here.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.root.plan import HISTFACTORY_STAT_ERROR_DEFAULT

def _require_uproot() -> None:
    try:
        import uproot  # noqa: F401
    except ImportError as exc:
        raise UserError(f"HistFactory XML export/import needs uproot ({exc}); install it with `python3 -m pip install 'pyhf-bench[root]'`") from None


def export_xml(spec: dict, directory: str | os.PathLike, resultprefix: str = "FitConfig",
               stat_errors: dict[str, tuple[str, float]] | None = None) -> Path:
    """Write *spec* as HistFactory XML + ROOT files into *directory* (pyhf's json2xml); return the top-level XML.

    Layout (as ``pyhf json2xml``): ``DIR/FitConfig.xml``, ``DIR/config/FitConfig_<channel>.xml``,
    ``DIR/config/HistFactorySchema.dtd`` and ``DIR/data/data.root``.  pyhf's
    writexml leaves ROOT's stat-error defaults in place (Poisson constraint,
    bins under 5% relative error pruned); pyhf's staterror is Gaussian and
    never pruned, so every channel file gets ``<StatErrorConfig
    RelErrorThreshold="0" ConstraintType="Gaussian"/>``, or the channel's own
    from *stat_errors* (channel -> (constraint type, threshold)).
    """
    _require_uproot()
    from pyhf import writexml

    out = Path(directory).resolve()
    specdir, datadir = out / "config", out / "data"
    specdir.mkdir(parents=True, exist_ok=True)
    datadir.mkdir(parents=True, exist_ok=True)
    try:
        xml = writexml.writexml(spec, specdir, datadir, resultprefix)
    except KeyError as exc:
        raise UserError(f"cannot export the spec to HistFactory XML: {exc}") from None
    top = out / f"{resultprefix}.xml"
    top.write_bytes(xml)
    for channel in spec["channels"]:
        path = specdir / f"{resultprefix}_{channel['name']}.xml"
        constraint, threshold = (stat_errors or {}).get(channel["name"], ("Gaussian", 0.0))
        _add_stat_error_config(path, constraint, threshold)
    return top


def _add_stat_error_config(path: Path, constraint: str = "Gaussian", threshold: float = 0.0) -> None:
    text = path.read_text(encoding="utf-8")
    doctype, _, body = text.partition("\n\n")
    root = ET.fromstring(body)
    config = ET.Element("StatErrorConfig", RelErrorThreshold=repr(float(threshold)), ConstraintType=constraint)
    # HistFactorySchema.dtd: Channel (Data*, StatErrorConfig*, Sample+)
    position = sum(1 for child in root if child.tag == "Data")
    root.insert(position, config)
    ET.indent(root)
    path.write_text(doctype + "\n\n" + ET.tostring(root, encoding="unicode") + "\n", encoding="utf-8")


def read_stat_error_configs(top_xml: str | os.PathLike, rootdir: str | os.PathLike | None = None) -> dict[str, tuple[str, float]]:
    """Each channel's ``<StatErrorConfig>`` (ConstraintType, RelErrorThreshold) in an XML likelihood; channels with stat errors only.

    pyhf's readxml ignores StatErrorConfig and makes every stat error Gaussian
    and unpruned; ``hist2workspace`` builds what the XML says, and a channel
    without one gets HistFactory's default (Poisson, 0.05).  The comparison
    honours it on both sides (:func:`pyhf_spec`) instead of changing the model.
    """
    top = Path(top_xml)
    base = Path(rootdir) if rootdir is not None else top.parent
    try:
        inputs = [x.text.strip() for x in ET.parse(top).getroot().findall("Input") if x.text and x.text.strip()]
    except (OSError, ET.ParseError) as exc:
        raise UserError(f"cannot read the HistFactory XML {top} ({exc})") from None
    configs: dict[str, tuple[str, float]] = {}
    for name in inputs:
        path = base / name
        try:
            channel = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as exc:
            raise UserError(f"cannot read the channel XML {path} named by {top} ({exc})") from None
        if not any(s.attrib.get("Activate") == "True" for s in channel.iter("StatError")):
            continue
        constraint, threshold = HISTFACTORY_STAT_ERROR_DEFAULT
        config = channel.find("StatErrorConfig")
        if config is not None:
            constraint = config.attrib.get("ConstraintType", constraint)
            try:
                threshold = float(config.attrib.get("RelErrorThreshold", threshold))
            except ValueError:
                raise UserError(f"{path}: StatErrorConfig RelErrorThreshold={config.attrib['RelErrorThreshold']!r} is not a number") from None
        configs[channel.attrib.get("Name", path.stem)] = (constraint, threshold)
    return configs


def import_xml(top_xml: str | os.PathLike, rootdir: str | os.PathLike | None = None) -> dict:
    """HistFactory XML + ROOT files -> pyhf workspace spec (pyhf's readxml)."""
    _require_uproot()
    from pyhf import readxml

    top = Path(top_xml)
    if not top.is_file():
        raise UserError(f"no HistFactory XML at {top}")
    readxml.clear_filecache()
    return readxml.parse(top, Path(rootdir) if rootdir is not None else top.parent)
