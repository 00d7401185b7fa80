"""`python -m core import`: the same preview as the Data page, a confirmation, then the result."""
from __future__ import annotations

import io

import pytest

from core import data
from core.cli import main
from tests.test_import_layout import image, split_files, written, zipped


@pytest.fixture
def cifar_zip(tmp_path):
    path = tmp_path / "cifar-mini.zip"
    path.write_bytes(zipped({**split_files("cifar10/", train=3, test=2, classes=("cat", "dog", "frog")),
                             "cifar10/README.txt": b"about"}))
    return path


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_import_zip_with_yes_prints_the_plan_and_the_result(cifar_zip, capsys):
    assert main(["import", str(cifar_zip), "--name", "cifar", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "Layout: split folders inside cifar10/" in out and "Classes (3): cat, dog, frog" in out
    assert "cifar10/README.txt: not inside a split's class folder" in out
    assert "Will import as folder:cifar at 32×32 RGB." in out  # the images' own size and colour
    assert "Imported folder:cifar: 3 classes, 9 train / 6 test images" in out
    ds = data.load("folder:cifar")
    assert ds.shape == (3, 32, 32) and (len(ds.train), len(ds.test)) == (9, 6)


def test_size_colour_and_share_flags_for_class_folders(tmp_path, capsys):
    src = written({f"{c}/{i}.png": image() for c in ("a", "b") for i in range(5)}, tmp_path / "src")
    assert main(["import", str(src), "--name", "ab", "--size", "8", "--grayscale", "--test-share", "0.4",
                 "--yes"]) == 0
    assert "at 8×8 grayscale, 0.4 of each class held out" in capsys.readouterr().out
    ds = data.load("folder:ab")
    assert ds.shape == (1, 8, 8) and (len(ds.train), len(ds.test)) == (6, 4)


def test_without_yes_it_refuses_when_stdin_is_not_a_terminal(cifar_zip, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main(["import", str(cifar_zip), "--name", "cifar"]) == 1
    captured = capsys.readouterr()
    assert "Layout: split folders" in captured.out  # the preview is still shown
    assert "pass --yes" in captured.err
    assert "folder:cifar" not in data.names()


@pytest.mark.parametrize("answer, code", [("y\n", 0), ("n\n", 1), ("\n", 1)])
def test_without_yes_it_asks_on_a_terminal(cifar_zip, capsys, monkeypatch, answer, code):
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    assert main(["import", str(cifar_zip), "--name", "cifar"]) == code
    assert ("folder:cifar" in data.names()) == (code == 0)
    if code:
        assert "Nothing imported." in capsys.readouterr().out


def test_bad_inputs_are_one_clear_line_before_anything_is_asked(cifar_zip, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", Terminal(""))  # asking would read EOF and fail loudly
    ambiguous = tmp_path / "bad.zip"
    ambiguous.write_bytes(zipped({"cats/1.png": image(), "dogs/1.png": image(), "test/1.png": image()}))
    assert main(["import", str(ambiguous), "--name", "x"]) == 2
    assert "Ambiguous layout: test/ beside cats/, dogs/" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "nowhere"), "--name", "x"]) == 2
    assert "is neither a folder nor a .zip file" in capsys.readouterr().err
    assert main(["import", str(cifar_zip), "--name", "no spaces"]) == 2
    assert "Invalid dataset name" in capsys.readouterr().err
    assert main(["import", str(cifar_zip), "--name", "cifar", "--yes"]) == 0
    assert main(["import", str(cifar_zip), "--name", "cifar"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["import", str(cifar_zip), "--name", "cifar", "--overwrite", "--yes"]) == 0
    with pytest.raises(SystemExit):
        main(["import", str(cifar_zip), "--name", "c", "--rgb", "--grayscale"])
