"""Reads the segment files in IN_DIR with pyarrow and, for each, writes
OUT_DIR/<name>.arrow (the table pyarrow read, as an Arrow IPC file) and
OUT_DIR/<name>.pyarrow.parquet (the same table written by pyarrow: V2 data
pages, RLE booleans, its own dictionary and page choices), for the Go test
TestPyarrow to compare with the narrow reader."""

import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

CODECS = ["zstd", "snappy", "lz4", "none"]


def main(src: str, dst: str) -> None:
    names = sorted(n for n in os.listdir(src) if n.endswith(".parquet"))
    for i, name in enumerate(names):
        table = pq.read_table(os.path.join(src, name), use_threads=True)
        base = os.path.join(dst, name[: -len(".parquet")])
        with pa.OSFile(base + ".arrow", "wb") as sink:
            with pa.ipc.new_file(sink, table.schema) as w:
                w.write_table(table)
        pq.write_table(
            table,
            base + ".pyarrow.parquet",
            data_page_version="2.0" if i % 2 == 0 else "1.0",
            compression=CODECS[i % len(CODECS)],
            use_dictionary=i % 3 != 0,
            row_group_size=max(1, table.num_rows // 3),
            data_page_size=512 if i % 2 else None,
            write_page_index=i % 2 == 0,
        )
    print(len(names))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
