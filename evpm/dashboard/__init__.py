"""The Streamlit fleet dashboard (`evpm dashboard`)."""
