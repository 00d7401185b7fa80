"""Text a person typed (run names, file and dataset names), made safe to put inside Markdown.

st.markdown, st.success, st.toast and the other message elements render Markdown: a run named
`[click](evil.example)` would become a link, `**x**` bold, `$x$` a formula. `plain()` escapes every
character Markdown could read as syntax, so the text shows exactly as typed.
"""
from __future__ import annotations

import re

# The punctuation that can start or close Markdown: emphasis, code, links and images, headings,
# lists, tables, HTML and entities, autolinks (http: and e-mail @), plus Streamlit's $ (math), ~
# (strikethrough) and : (emoji, :material/icons: and :red[colours]). CommonMark lets a backslash
# escape any ASCII punctuation, so each one shows as itself. Dots stay (file names read better
# in the page source and in tests) except in "www." (a link) and after a leading number (a list).
_PUNCTUATION = re.compile(r"""([\\`*_{}\[\]()#+\-!|<>~$:&@])""")
_DOTS = re.compile(r"(\bwww|^\d+)\.", re.IGNORECASE)


def plain(text) -> str:
    """`text` as literal characters in Markdown, on one line."""
    return _DOTS.sub(r"\1\\.", _PUNCTUATION.sub(r"\\\1", " ".join(str(text).split())))
