"""The Streamlit app (``app.py``): pages over the pipeline's tracked outputs and the rating loop.

``project`` and ``repo`` are plain Python (no Streamlit) so tests and the CLI can use them; ``main``
and ``views`` draw the pages.
"""
