"""CNN Studio: the router. Page config, navigation over pages/, the shared sidebar."""
import streamlit as st

from ui import host_guard, live, sidebar, state, warmup

host_guard.refuse_foreign_host()  # before anything is drawn: a DNS-rebinding page gets nothing
st.set_page_config(page_title="CNN Studio", page_icon=":material/neurology:", layout="wide")
state.init()

pages = {
    "Start": [
        st.Page(state.HOME, title="Home", icon=":material/home:", default=True),
    ],
    "Build": [
        st.Page(state.DATA, title="Data", icon=":material/dataset:"),
        st.Page(state.MODEL, title="Model", icon=":material/account_tree:"),
        st.Page(state.TRAIN, title="Train", icon=":material/play_circle:"),
    ],
    "Study": [
        st.Page(state.RUNS, title="Runs", icon=":material/table_chart:"),
        st.Page(state.SWEEPS, title="Sweeps", icon=":material/tune:"),
        st.Page(state.EVALUATE, title="Evaluate", icon=":material/fact_check:"),
        st.Page(state.INSPECT, title="Inspect", icon=":material/visibility:"),
        st.Page(state.PLAYGROUND, title="Playground", icon=":material/draw:"),
    ],
}
page = st.navigation(pages)
try:
    sidebar.render(poll=page.title not in ("Home", "Train"))  # these two have the live panel
    live.hold_still()
    state.show_flash()
    page.run()
finally:
    warmup.start()  # after the first page is drawn: torch loads while the person reads it
