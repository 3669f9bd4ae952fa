"""The results table read back from results JSON files (quickstart's closing table)."""

from __future__ import annotations

from ssl_skel.cli import main
from ssl_skel.evaluation.results import read_results, results_table, write_results


def _write(run, name, protocol, random_init, metrics, settings=None):
    write_results(
        run / "eval" / name / "results.json",
        protocol=protocol,
        dataset={},
        split="test",
        checkpoint="x.pt",
        metrics=metrics,
        settings=settings or {},
        extra={"encoder": {"random_init": random_init}},
    )


def test_table_has_one_row_per_run_and_a_column_per_modality(tmp_path, capsys):
    _write(tmp_path, "linear_xsub", "linear", False, {"fused": {"top1": 91.25, "top5": 99.0}, "joint": {"top1": 88.5}})
    _write(tmp_path, "linear_xsub_random", "linear", True, {"fused": {"top1": 40.0}})
    _write(tmp_path, "knn_xsub", "knn", False, {"fused": {"top1": 80.125}}, settings={"k": 1})
    (tmp_path / "eval" / "broken").mkdir()
    (tmp_path / "eval" / "broken" / "results.json").write_text("{not json")
    results = read_results(tmp_path)
    assert len(results) == 3
    lines = results_table(results).splitlines()
    assert lines[0].split()[-2:] == ["fused", "joint"]
    assert [line.split()[-2:] for line in lines[1:]] == [["80.12", "-"], ["91.25", "88.50"], ["40.00", "-"]]
    assert lines[1].startswith("knn (k=1), pretrained")
    assert lines[3].startswith("linear, random init")
    assert main(["report", str(tmp_path)]) == 0
    assert "91.25" in capsys.readouterr().out


def test_missing_run_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert results_table([]) == "(no evaluation results found)"
