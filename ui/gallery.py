"""A paginated gallery of image tiles with one selectable tile.

Only the current page's images are encoded and sent, so a selection of 10,000 samples costs
no more than one of 24. The chosen sample index is kept in session state under `<key>_pick`.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from core.metrics import paginate
from ui.images import to_pil


def selected(key: str) -> int | None:
    return st.session_state.get(f"{key}_pick")


def _pick(key: str, index: int) -> None:
    st.session_state[f"{key}_pick"] = index


def tiles(images, indices, caption: Callable[[int], str], *, key: str, per_page: int = 24,
          columns: int = 4, scale: int = 3, empty: str = "No images match.", noun: str = "test image") -> int | None:
    """Draw one page of `indices` (sample indices into `images`, already ordered) as tiles.

    Returns the selected sample index when it is part of `indices`, else None.
    """
    indices = np.asarray(indices).reshape(-1)
    if len(indices) == 0:
        st.info(empty)
        return None
    page_key = f"{key}_page"
    num_pages = -(-len(indices) // per_page)
    # a narrower filter can leave the remembered page past the end; clamp before the widget exists
    if st.session_state.get(page_key, 1) > num_pages:
        st.session_state[page_key] = num_pages
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    page = left.number_input("Page", min_value=1, max_value=num_pages, step=1, key=page_key,
                             disabled=num_pages == 1)
    shown, _ = paginate(indices, page, per_page)
    first = (page - 1) * per_page + 1
    right.caption(f"{len(indices):,} images · showing {first:,}–{first + len(shown) - 1:,} · "
                  f"page {page} of {num_pages}")
    chosen = selected(key)
    for start in range(0, len(shown), columns):
        for col, idx in zip(st.columns(columns), shown[start:start + columns]):
            idx = int(idx)
            with col.container(border=True):
                st.image(to_pil(images[idx], scale), width="stretch", output_format="PNG")
                st.caption(caption(idx))
                st.button(f"#{idx}", key=f"{key}_tile_{idx}", width="stretch", help=f"Inspect {noun} #{idx}",
                          type="primary" if idx == chosen else "secondary", on_click=_pick, args=(key, idx))
    return chosen if chosen is not None and bool((indices == chosen).any()) else None
