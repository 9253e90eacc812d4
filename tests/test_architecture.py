"""ARCHITECTURE.md stays true: its rule graph is the workflow's, its package map names every
package, and every repository path it names exists."""

from __future__ import annotations

import html
import re

from conftest import REPO, run_snakemake

ARCHITECTURE = REPO / "ARCHITECTURE.md"


def dot_graph(dot: str) -> tuple[set[str], set[tuple[str, str]]]:
    """Rule names and (from, to) rule edges of a `snakemake --rulegraph` DOT text."""
    labels = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', dot, re.M))
    edges = {(labels[a], labels[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.M)}
    return set(labels.values()), edges


def svg_graph(svg: str) -> tuple[set[str], set[tuple[str, str]]]:
    """Rule names and rule edges of the SVG that Graphviz drew from that DOT text."""
    labels = dict(re.findall(r'class="node">\s*<title>(\d+)</title>.*?<text[^>]*>(\w+)</text>', svg, re.S))
    titles = re.findall(r'class="edge">\s*<title>(.*?)</title>', svg)
    edges = {tuple(labels[end] for end in html.unescape(title).split("->")) for title in titles}
    return set(labels.values()), edges


def test_the_committed_rule_graph_is_the_workflows(tmp_path):
    result = run_snakemake(tmp_path, "--rulegraph")
    assert result.returncode == 0, result.stderr[-2000:]
    rules, edges = dot_graph(result.stdout)
    assert len(rules) > 10 and edges
    redraw = "redraw docs/rulegraph.dot and docs/rulegraph.svg as ARCHITECTURE.md says"
    assert dot_graph((REPO / "docs/rulegraph.dot").read_text()) == (rules, edges), redraw
    assert svg_graph((REPO / "docs/rulegraph.svg").read_text()) == (rules, edges), redraw
    assert "docs/rulegraph.svg" in ARCHITECTURE.read_text()


def test_every_rule_outside_the_default_graph_is_named(tmp_path):
    result = run_snakemake(tmp_path, "--list-rules", config={"kernels": {"batched": True}})
    assert result.returncode == 0, result.stderr[-2000:]
    listed = set(result.stdout.split())
    drawn, _ = dot_graph((REPO / "docs/rulegraph.dot").read_text())
    text = ARCHITECTURE.read_text()
    assert {"kernels_estimate_batched", "data_downscale"} <= listed
    assert [rule for rule in sorted(listed - drawn) if f"`{rule}`" not in text] == []


def test_the_package_map_names_every_package():
    packages = sorted(path.parent.name for path in (REPO / "workflow/rwsr").glob("*/__init__.py"))
    text = ARCHITECTURE.read_text()
    assert packages and [name for name in packages if f"`rwsr.{name}`" not in text] == []


def test_every_path_it_names_exists():
    text = ARCHITECTURE.read_text()
    paths = set(re.findall(r"(?<![\w/.-])((?:workflow|tests|bench|profiles|envs|docs|\.ci)/[\w./-]*[\w/])", text))
    paths |= set(re.findall(r"(?<![\w/.-])(\w+\.(?:md|toml|yaml))\b", text))
    assert len(paths) > 10
    missing = [path for path in sorted(paths) if not (REPO / path).exists()]
    assert missing == [], missing
    assert "(ARCHITECTURE.md)" in (REPO / "README.md").read_text()  # linked from the README
