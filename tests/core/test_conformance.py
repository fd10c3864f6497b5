"""Field-by-field agreement with tshark over the whole vendored corpus."""

from tshark_reference import FIELDS, compare_corpus


def test_agreement_with_tshark_is_at_least_99_9_percent():
    report = compare_corpus()
    text = report.text()
    print(text)  # shown with -s, and on failure
    assert not report.row_count_problems, text
    assert report.total >= 0.999, text
    for name in FIELDS:  # no single field may quietly rot behind a good total
        assert report.ratio(name) >= 0.998, f"{name}\n{text}"
