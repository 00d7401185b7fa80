"""Home: what CNN Studio does, one-click presets, the current job and the latest runs."""
import streamlit as st

from core import presets
from core.tables import run_label
from ui import live, presets_ui, state
from ui.text import plain

state.init()
st.title("CNN Studio")
st.markdown(
    "Train convolutional image classifiers on MNIST, Fashion-MNIST, CIFAR-10 or your own images and "
    "watch them learn live. Then study each run — confusion matrix, mistakes, filters, feature maps, "
    "your own drawings — and compare runs side by side.")

st.subheader("Start in one click")


def preset_cards(group: str) -> None:
    cols = st.columns(3)
    for i, p in enumerate(p for p in presets.PRESETS.values() if p.group == group):
        ok, reason = presets_ui.availability(p)
        with cols[i % 3].container(border=True):
            st.markdown(f"**{p.title}**")
            st.caption(p.description + (f" Tutorial reported: **{p.reported}**." if p.reported else ""))
            if st.button("Train now", key=f"home_{p.name}", disabled=not ok, icon=":material/play_arrow:",
                         help=reason or None, type="primary" if p.name == "lenet5_mnist_sample" else "secondary"):
                run_id = presets_ui.start(p.name)
                state.flash("success", f"Started **{p.title}** as run `{run_id}`.")
                st.switch_page(state.TRAIN)
            if not ok:
                st.caption(f":material/info: {reason}")
                st.page_link(state.DATA, label="Get the dataset", icon=":material/dataset:")


preset_cards("Quick start")
st.markdown(f"**{presets.FAST}** — the quickest way to a good model without a GPU (full datasets; the "
            "README lists the times measured on a 2-core laptop CPU).")
preset_cards(presets.FAST)
st.markdown("**The lab's questions** — two runs each, queued one after the other, then compared on Runs. "
            "They use full MNIST when it is in the data folder, else the bundled sample.")
cols = st.columns(len(presets.PAIRS))
for col, pair in zip(cols, presets.PAIRS.values()):
    with col.container(border=True):
        st.markdown(f"**{pair.title}**")
        st.caption(pair.question)
        if st.button("Queue both and compare", key=f"home_pair_{pair.name}", icon=":material/compare_arrows:"):
            run_ids = presets_ui.start_pair(pair.name)
            state.flash("success", "Both runs are queued. The comparison below fills in by itself as they "
                                   "train, and the page's address keeps the selection, so reloading it is safe.")
            state.open_comparison(run_ids)
with st.expander("Reproduce the tutorials", icon=":material/school:"):
    preset_cards("Tutorials")

st.subheader("Current job")
live.panel(compact=True)

st.subheader("Latest runs")
runs = state.store().list()[:5]
if not runs:
    st.info("No runs yet. Press **Train now** on the first preset above — it works offline.")
for rec in runs:
    a, b = st.columns([5, 1])
    a.write(plain(run_label(rec)) if rec.config and not rec.damaged else f"{rec.run_id} — damaged: {plain(rec.damaged)}")
    if not rec.damaged and rec.epochs_done and b.button("Evaluate", key=f"home_eval_{rec.run_id}"):
        state.put(state.SELECTED_RUN, rec.run_id)
        st.switch_page(state.EVALUATE)
st.page_link(state.RUNS, label="All runs", icon=":material/table_chart:")
