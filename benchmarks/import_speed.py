"""Import speed and memory: a whole image dataset through the same code the Data page and the CLI use.

    python benchmarks/import_speed.py                      # ../shared/datasets/CIFAR10-jpg/cifar10-jpg.zip
    python benchmarks/import_speed.py PATH --as-upload     # the zip's bytes, as an upload hands them over

Prints the preview time (names and a sample of headers), the import's wall time and images/s, and
the process's peak RSS (Linux ru_maxrss) before and after: the bar in issue #12 is ≤ 60 s and
≤ 1.5 GB for the 60,000 CIFAR-10 JPEGs on the 2-core machine. The dataset is written to a
temporary data folder and deleted. Never commit the zip; no test depends on it.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CIFAR_ZIP = ROOT.parent / "shared" / "datasets" / "CIFAR10-jpg" / "cifar10-jpg.zip"


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(CIFAR_ZIP), help="a .zip or folder of images")
    parser.add_argument("--as-upload", action="store_true", help="pass the zip's bytes, as the Data page's upload does")
    parser.add_argument("--size", type=int, help="image size (default: the images' own)")
    args = parser.parse_args()
    if not Path(args.path).exists():
        print(f"{args.path} does not exist: give a .zip or folder of images.", file=sys.stderr)
        return 2

    import torch  # imported before measuring: every front end has it loaded already

    from core import data
    from core.data.importer import suggested_size

    torch.set_num_threads(2)
    print(f"peak RSS after imports: {peak_mib():,.0f} MiB")
    source = Path(args.path).read_bytes() if args.as_upload else args.path
    started = time.perf_counter()
    plan = data.preview_import(source)
    previewed = time.perf_counter() - started
    print("\n".join(plan.describe()))
    print(f"preview: {previewed:.2f} s")

    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        now = time.perf_counter()
        if now - last[0] >= 5 or fraction >= 0.95:
            last[0] = now
            print(f"  {now - started:6.1f} s  {fraction:5.1%}  {message}", flush=True)

    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        rep = data.import_image_folder(source, "bench", scratch, image_size=args.size or suggested_size(plan),
                                       progress=progress)
        wall = time.perf_counter() - started
        ds = data.load("folder:bench", scratch)
    n = rep.train_count + rep.test_count
    print(f"imported {n:,} images ({rep.train_count:,} train / {rep.test_count:,} test, "
          f"{'×'.join(map(str, ds.shape))}, {len(rep.skipped)} skipped)")
    print(f"import wall time: {wall:.1f} s ({n / wall:,.0f} images/s); preview + import: {wall + previewed:.1f} s")
    print(f"peak RSS: {peak_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
