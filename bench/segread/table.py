"""Turns bench/segread's -out JSON into the Markdown table of LAYOUT.md.

    python3 bench/segread/table.py results.json
"""

import json
import sys


def main(path: str) -> None:
    r = json.load(open(path))
    print(f"{r['rows']:,} rows, median of {r['runs']} runs, GOMAXPROCS={r['gomaxprocs']}.\n")
    print("| layout | MB | narrow M rows/s | pqarrow | pyarrow | narrow / pyarrow | narrow M rows/CPU-s | pqarrow | pyarrow | narrow / pyarrow (CPU) | 1% keys: narrow ms | narrow CPU-ms | key rows decoded | pyarrow ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for x in r["results"]:
        w, c, s = x["rows_per_s"], x["rows_per_cpu_s"], x.get("selective_ms", {})
        ratio = lambda d: f"{d['narrow'] / d['pyarrow']:.2f}x" if d.get("pyarrow") else "-"
        print(
            f"| {x['layout']} | {x['bytes'] / 1e6:.0f} | {w['narrow'] / 1e6:.1f} | {w['pqarrow'] / 1e6:.1f} | "
            f"{w.get('pyarrow', 0) / 1e6:.1f} | {ratio(w)} | {c['narrow'] / 1e6:.1f} | {c['pqarrow'] / 1e6:.1f} | "
            f"{c.get('pyarrow', 0) / 1e6:.1f} | {ratio(c)} | {s.get('narrow', 0):.1f} | {x.get('selective_cpu_ms', {}).get('narrow', 0):.1f} | {x['selective_key_rows_decoded']:,} | {s.get('pyarrow', 0):.1f} |"
        )
    print()
    for x in r["results"]:
        print(f"- **{x['layout']}**: {x['detail']}; dictionary: {', '.join(x['dictionary_columns']) or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1])
