"""Streamlit pieces shared by the pages, and pure Plotly figure builders (ui/figures*.py)."""
