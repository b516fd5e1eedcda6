"""codesign.report.fmt: the one place that prints a number."""
from codesign.inspect import coverage_text
from codesign.report.fmt import percent


def test_a_share_short_of_one_never_prints_as_a_whole():
    assert percent(1.0) == "100%" and percent(0.5) == "50.0%"
    assert percent(0.9999) == "99.9%"           # one decimal would round it up to 100.0%


def test_coverage_prints_its_share_with_percent():
    text = coverage_text({"share": 0.9999, "macs_total": 10_000, "unmodeled": []})
    assert text.startswith("coverage: 99.9% of the model's 10,000 MACs modeled")
