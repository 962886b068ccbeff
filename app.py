"""산책 sanchaek — the Streamlit app: `make app` or `streamlit run app.py` from the project root.

Pages live in src/sanchaek/app/views/; this file only starts them.
"""

from sanchaek.app.main import main

main()
