"""What a page run by AppTest shows: its texts, and which of them Streamlit renders as Markdown."""

from __future__ import annotations

from collections.abc import Iterator

from streamlit.testing.v1 import AppTest

# Element types whose body Streamlit renders as Markdown (st.text, st.code and dataframe cells
# are plain text).
MARKDOWN_BODIES = {"markdown", "caption", "error", "warning", "info", "success", "toast",
                   "title", "header", "subheader"}


def nodes(app: AppTest) -> Iterator[object]:
    """Every element and block of the page, main area and sidebar."""
    todo: list[object] = [app.main, app.sidebar]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(getattr(node, "children", {}).values())


def texts(app: AppTest) -> str:
    """The bodies of the page's Markdown and alert elements, one per line."""
    return "\n".join([m.value for m in app.markdown] + [m.value for m in app.info]
                     + [m.value for m in app.error] + [m.value for m in app.warning]
                     + [m.value for m in app.success])


def markdown_sources(app: AppTest) -> list[str]:
    """Every string Streamlit renders as Markdown: element bodies, labels, metric parts."""
    out = []
    for node in nodes(app):
        kind = getattr(node, "type", "")
        if kind in MARKDOWN_BODIES:
            out.append(node.value)
        for attribute in ("label", "help", "placeholder"):
            value = getattr(node, attribute, None)
            if isinstance(value, str) and value:
                out.append(value)
    return out


def everything(app: AppTest) -> str:
    """All text on the page: Markdown, plain text, code, metrics, widget labels and options."""
    parts = list(markdown_sources(app))
    for node in nodes(app):
        kind = getattr(node, "type", "")
        if kind in ("text", "code", "metric", "exception"):
            parts.append(str(node.value))
        if kind in ("selectbox", "multiselect"):
            parts.extend(str(o) for o in node.options)
        if kind in ("arrow_data_frame", "dataframe", "table"):
            parts.append(node.value.to_csv())
    return "\n".join(parts)
