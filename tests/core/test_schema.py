import netlab
from netlab.core import schema
from netlab.core.batch import empty_frame


def test_every_column_has_a_dtype_and_a_doc():
    df = empty_frame()
    assert list(df.columns) == list(schema.COLUMN_NAMES)
    for col in schema.COLUMNS:
        assert str(df[col.name].dtype) == col.pandas_dtype, col.name
        assert col.doc


def test_decoded_frames_follow_the_schema(mixed_pcap):
    df = netlab.read_pcap(mixed_pcap)
    assert [str(t) for t in df.dtypes] == [c.pandas_dtype for c in schema.COLUMNS]


def test_markdown_table_lists_every_column():
    table = schema.markdown_table()
    for name in schema.COLUMN_NAMES:
        assert f"`{name}`" in table
