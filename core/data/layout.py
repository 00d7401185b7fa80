"""What an import will do, decided from member names alone: plain class folders or split folders.

`plan_import` reads no file and decodes nothing, so the Data page and the CLI can show the plan
(layout, classes, counts per split and class, skipped files) before anything is written, and a
layout that could be read two ways is reported instead of guessed.

Layouts recognised (any letter case, with or without one wrapper folder such as `cifar10/`):
- class folders: `<class>/…`; the test set is later held out of each class by the test share;
- split folders: `train/<class>/…` beside `test/<class>/…` (also `training`, `testing`, `val`,
  `valid`, `validation`). The original test split is kept as the test set. When both a test and a
  validation split exist, test/ is the test set and val/ is merged into train (training keeps its
  own validation share, so a second held-out set would only go unused); with train/ and val/ only,
  val/ is the test set; a lone train/ is read as class folders with the test share held out.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .info import DatasetError

TRAIN, TEST, VAL = "train", "test", "val"
SPLIT_ROLES = {"train": TRAIN, "training": TRAIN, "test": TEST, "testing": TEST,
               "val": VAL, "valid": VAL, "validation": VAL}
ALL = "all"  # the one "split" of plain class folders, before the test share is held out
CLASS_FOLDERS, SPLIT_FOLDERS = "class folders", "split folders"
JUNK = ("__MACOSX", "Thumbs.db", "desktop.ini")
# By name only: the decoder still decides (core/images.py); a wrong name is skipped then.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".gif", ".webp",
                  ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".mpo"}
NOT_AN_IMAGE = "not an image (unrecognised file format); use a PNG, JPEG, BMP, GIF, WebP, TIFF or PPM file"

Parts = tuple[str, ...]


@dataclass(frozen=True)
class Member:
    index: int  # position in the list of paths given to plan_import
    split: str  # TRAIN or TEST (split folders), ALL (class folders)
    label: int  # index into ImportPlan.classes


@dataclass
class ImportPlan:
    layout: str  # CLASS_FOLDERS | SPLIT_FOLDERS
    classes: list[str]
    counts: dict[str, dict[str, int]]  # split -> class -> image files: {"train", "test"} or {"all"}
    skipped: list[tuple[str, str]]  # (path as given, reason)
    notes: list[str]  # what was decided, in words (val merged, wrapper looked through, …)
    members: list[Member] = field(repr=False)  # what to decode; train members before test ones
    wrapper: str = ""  # the folder(s) looked through, e.g. "cifar10"
    # from a sample of file headers (core.data.importer.preview), None when not sampled/mixed
    image_size: tuple[int, int] | None = None  # (width, height) every sampled image has
    colour: bool | None = None  # True when a sampled image is colour
    source: str = ""

    @property
    def has_test_split(self) -> bool:
        return self.layout == SPLIT_FOLDERS

    def total(self, split: str | None = None) -> int:
        return sum(sum(c.values()) for s, c in self.counts.items() if split in (None, s))

    def describe(self) -> list[str]:
        """The plan in words, as the CLI prints it (the Data page shows the same in tables)."""
        lines = [f"Source: {self.source}" if self.source else "",
                 f"Layout: {self.layout}" + (f" inside {self.wrapper}/" if self.wrapper else ""),
                 f"Classes ({len(self.classes)}): {', '.join(self.classes)}"]
        width = max(5, *(len(c) for c in self.classes))
        splits = list(self.counts)
        lines.append(f"  {'class':{width}}  " + "  ".join(f"{column_name(s):>7}" for s in splits))
        for c in self.classes:
            lines.append(f"  {c:{width}}  " + "  ".join(f"{self.counts[s][c]:>7,}" for s in splits))
        lines.append(f"  {'total':{width}}  " + "  ".join(f"{self.total(s):>7,}" for s in splits))
        if self.image_size:
            w, h = self.image_size
            lines.append(f"Images: {w}×{h}, {'colour' if self.colour else 'grayscale'} (from a sample of headers)")
        lines += [f"Note: {n}" for n in self.notes]
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped):,} file(s):")
            lines += [f"  {f}: {why}" for f, why in self.skipped[:20]]
            if len(self.skipped) > 20:
                lines.append(f"  … and {len(self.skipped) - 20:,} more")
        return [line for line in lines if line]


def column_name(split: str) -> str:
    """How a split's counts are headed in the preview: plain class folders have just "images"."""
    return "images" if split == ALL else split


# ---- the scan ------------------------------------------------------------------------------

def plan_import(paths: Sequence[str | Parts], dirs: Iterable[str | Parts] = (), source: str = "") -> ImportPlan:
    """The plan for importing files at `paths` ("a/b.png" or ("a", "b.png")); `dirs` adds folders
    that may be empty (a zip's directory entries). Raises DatasetError when the layout is ambiguous."""
    parts = [_parts(p) for p in paths]
    files = [i for i, p in enumerate(parts) if p and not _is_junk(p)]
    given = [d for d in map(_parts, dirs) if d and not _is_junk(d)] + [parts[i][:-1] for i in files]
    folders = {d[:k] for d in given for k in range(1, len(d) + 1)}  # every folder, empty ones too
    depth = _wrapper_depth([parts[i] for i in files], folders)
    wrapper = "/".join(max(folders, key=len)[:depth]) if depth else ""  # all share it
    rel = {i: parts[i][depth:] for i in files}
    folders = {d[depth:] for d in folders if len(d) > depth}
    tops = {d[0] for d in folders if len(d) == 1} | {r[0] for r in rel.values() if len(r) >= 2}
    roles = {t: SPLIT_ROLES[t.lower()] for t in tops if t.lower() in SPLIT_ROLES}
    if roles and set(roles) != tops:
        raise DatasetError(_mixed_message(tops, roles, wrapper))
    if roles:
        by_role = _one_folder_per_role(roles, wrapper)
        if set(by_role) == {TRAIN}:  # a lone train/: its sub-folders are the classes
            return _lone_train_plan(parts, rel, folders, by_role[TRAIN], wrapper, source)
        return _split_plan(parts, rel, folders, by_role, wrapper, source)
    return _class_plan(parts, rel, folders, wrapper, [], source)


def _parts(path: str | Parts) -> Parts:
    raw = path.replace("\\", "/").split("/") if isinstance(path, str) else path
    return tuple(p for p in raw if p not in ("", "."))


def _is_junk(parts: Parts) -> bool:
    return any(p.startswith(".") or p in JUNK for p in parts)


def _is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def _wrapper_depth(files: list[Parts], folders: set[Parts]) -> int:
    """How many single top folders hold everything (`cifar10/` in `cifar10/train/cat/1.jpg`).
    A split folder is never a wrapper: it is what the layout is made of."""
    depth = 0
    while True:
        tops = {p[depth] for p in files if len(p) > depth} | {d[depth] for d in folders if len(d) > depth}
        deeper = any(len(p) >= depth + 3 for p in files) or any(len(d) >= depth + 2 for d in folders)
        if len(tops) != 1 or not deeper or next(iter(tops)).lower() in SPLIT_ROLES:
            return depth
        depth += 1


def _one_folder_per_role(roles: dict[str, str], wrapper: str) -> dict[str, str]:
    by_role: dict[str, list[str]] = {}
    for folder, role in sorted(roles.items()):
        by_role.setdefault(role, []).append(folder)
    for role, found in by_role.items():
        if len(found) > 1:
            raise DatasetError(
                f"Ambiguous layout{_inside(wrapper)}: {' and '.join(f + '/' for f in found)} are both {role} splits. "
                "Keep one of them (or merge them) and import again."
            )
    if TRAIN not in by_role:
        found = ", ".join(f"{f[0]}/" for f in by_role.values())
        raise DatasetError(
            f"Found {found} but no train/ (or training/) folder{_inside(wrapper)}. Add the training images as "
            "train/<class>/…, or import plain class folders and let the test share hold out a test set."
        )
    return {role: found[0] for role, found in by_role.items()}


def _inside(wrapper: str) -> str:
    return f" inside {wrapper}/" if wrapper else ""


def _mixed_message(tops: set[str], roles: dict[str, str], wrapper: str) -> str:
    splits = ", ".join(sorted(f"{t}/" for t in roles))
    others = ", ".join(sorted(f"{t}/" for t in tops - set(roles)))
    return (
        f"Ambiguous layout{_inside(wrapper)}: {splits} beside {others}. Is {splits} a class or a train/test "
        "split? For split folders, put every class inside them (train/<class>/…, test/<class>/…); for class "
        f"folders, rename {splits} (e.g. to {next(iter(sorted(roles)))}_class/) and import again."
    )


# ---- the two layouts -------------------------------------------------------------------------

def _lone_train_plan(parts, rel, folders, train, wrapper, source) -> ImportPlan:
    _check_no_loose_images(parts, {i: r for i, r in rel.items() if len(r) == 2}, wrapper)
    note = f"Only a {train}/ split was found: the test share is held out of each class."
    plan = _class_plan(parts, {i: r[1:] for i, r in rel.items() if len(r) >= 2},
                       {d[1:] for d in folders if len(d) >= 2}, "/".join(filter(None, (wrapper, train))), [note], source)
    plan.skipped[:0] = [("/".join(parts[i]), "not inside a class folder") for i, r in rel.items() if len(r) < 2]
    return plan


def _class_plan(parts, rel, folders, wrapper, notes, source) -> ImportPlan:
    skipped = [("/".join(parts[i]), "not inside a class folder") for i, r in rel.items() if len(r) < 2]
    inside = {i: r for i, r in rel.items() if len(r) >= 2}
    classes = sorted({d[0] for d in folders} | {r[0] for r in inside.values()})
    if len(classes) < 2:
        raise DatasetError(
            f"Found {len(classes)} class folder(s){_inside(wrapper)} ({', '.join(classes) or 'none'}); need at "
            "least 2. Put the images in one sub-folder per class, e.g. cats/ and dogs/."
        )
    members, skipped_images = _members(parts, inside, classes, ALL)
    plan = ImportPlan(CLASS_FOLDERS, classes, {ALL: _count(members, classes)}, skipped + skipped_images,
                      notes, members, wrapper, source=source)
    _check_no_empty(plan, ALL)
    return plan


def _split_plan(parts, rel, folders, by_role, wrapper, source) -> ImportPlan:
    test_role = TEST if TEST in by_role else VAL
    use = {TRAIN: [by_role[TRAIN]] + ([by_role[VAL]] if test_role == TEST and VAL in by_role else []),
           TEST: [by_role[test_role]]}
    notes = []
    if test_role == VAL:
        notes.append(f"{by_role[VAL]}/ is the test set (there is no test/ folder).")
    elif VAL in by_role:
        notes.append(f"{by_role[TEST]}/ is the test set; {by_role[VAL]}/ is merged into train (training "
                     "holds out its own validation share).")
    notes.append("The test share is not used: the dataset's own test split is kept.")
    skipped = [("/".join(parts[i]), "not inside a split's class folder") for i, r in rel.items() if len(r) < 2]
    loose = {i: r for i, r in rel.items() if len(r) == 2}
    _check_no_loose_images(parts, loose, wrapper)
    skipped += [("/".join(parts[i]), "not inside a class folder") for i in loose]
    class_sets = {f: {d[1] for d in folders if len(d) >= 2 and d[0] == f} for f in by_role.values()}
    used = [f for fs in use.values() for f in fs]
    _check_same_classes({f: class_sets[f] for f in used}, wrapper)
    classes = sorted(class_sets[by_role[TRAIN]])
    if len(classes) < 2:
        raise DatasetError(
            f"Found {len(classes)} class folder(s) in {by_role[TRAIN]}/ ({', '.join(classes) or 'none'}); need "
            f"at least 2. Put the images in {by_role[TRAIN]}/<class>/… with one sub-folder per class."
        )
    members, counts = [], {}
    for split in (TRAIN, TEST):  # train first: the importer slices its images off the front
        inside = {i: r[1:] for i, r in rel.items() if len(r) >= 3 and r[0] in use[split]}
        found, bad_names = _members(parts, inside, classes, split)
        members += found
        skipped += bad_names
        counts[split] = _count(found, classes)
    plan = ImportPlan(SPLIT_FOLDERS, classes, counts, skipped, notes, members, wrapper, source=source)
    _check_no_empty(plan, TRAIN)
    if plan.total(TEST) == 0:
        raise DatasetError(f"{use[TEST][0]}/ holds no image files; add the test images or remove the folder.")
    return plan


def _members(parts, inside: dict[int, Parts], classes, split) -> tuple[list[Member], list]:
    """Image files of `inside` (paths relative to the split, class folder first) as members."""
    index = {c: k for k, c in enumerate(classes)}
    members, skipped = [], []
    for i in sorted(inside, key=lambda i: parts[i]):
        if _is_image_name(inside[i][-1]):
            members.append(Member(i, split, index[inside[i][0]]))
        else:
            skipped.append(("/".join(parts[i]), NOT_AN_IMAGE))
    return members, skipped


def _count(members: list[Member], classes: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(classes, 0)
    for m in members:
        counts[classes[m.label]] += 1
    return counts


def _check_no_empty(plan: ImportPlan, split: str) -> None:
    empty = [c for c, n in plan.counts[split].items() if n == 0]
    if empty:
        raise DatasetError(
            f"Class folder(s) {', '.join(empty)} hold no readable images (no image files); add images or remove "
            "the folder(s)."
        )


def _check_no_loose_images(parts, loose: dict[int, Parts], wrapper: str) -> None:
    images = sorted("/".join(parts[i]) for i, r in loose.items() if _is_image_name(r[-1]))
    if images:
        folder = next(r[0] for r in loose.values() if _is_image_name(r[-1]))
        raise DatasetError(
            f"Ambiguous layout{_inside(wrapper)}: {len(images):,} image(s) lie directly in a split folder "
            f"(e.g. {images[0]}), so their class is unknown. Move them into class folders "
            f"({folder}/<class>/…) or remove them, and import again."
        )


def _check_same_classes(class_sets: dict[str, set[str]], wrapper: str) -> None:
    (first, reference), *others = class_sets.items()
    for folder, found in others:
        if found != reference:
            only_a, only_b = sorted(reference - found), sorted(found - reference)
            parts = ([f"only in {first}/: {', '.join(only_a)}"] if only_a else []) + (
                [f"only in {folder}/: {', '.join(only_b)}"] if only_b else [])
            raise DatasetError(
                f"Ambiguous layout{_inside(wrapper)}: {first}/ and {folder}/ hold different classes "
                f"({'; '.join(parts)}). Give both the same class folders (an empty one is fine in {folder}/) "
                "and import again."
            )
