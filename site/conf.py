"""Sphinx configuration of the series' website: the committed notebooks and their outputs, rendered offline.

Build (from the project folder): .venv/bin/python -m sphinx -c site -n -W -b html notebooks build/site
The sources are notebooks/ (every notebook, and index.md, the landing page); this folder holds only the configuration.
"""

project = "Similar-image search with Annoy"
author = "the series' authors"
copyright = "the series' authors"  # noqa: A001 (Sphinx's name)

extensions = [
    "myst_nb",  # .ipynb and .md sources (MyST-NB includes MyST-Parser)
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 copied into the site: no request to another host
]

# The notebooks are executed by the tests (nbval); the site shows their committed outputs as they are.
nb_execution_mode = "off"
nb_merge_streams = True
# Hidden cells (tag hide-cell: every one an exercise's solution) say which they are in their own metadata
# ("Show solution 2"); tests/test_site.py checks that.

myst_enable_extensions = ["dollarmath", "amsmath", "tasklist"]  # tasklist: the checklist of instructors.md
myst_heading_anchors = 3

exclude_patterns = ["**/.ipynb_checkpoints", "images"]
root_doc = "index"

html_theme = "sphinx_book_theme"
html_title = "Similar-image search with Annoy"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
html_css_files = ["wide.css"]
html_last_updated_fmt = None
html_show_sourcelink = False
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,  # the page's notebook, from this site
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "launch_buttons": {},
}
html_context = {"default_mode": "auto"}  # light or dark as the reader's system says (and no console error about it)
