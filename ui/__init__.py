"""Shared Streamlit helpers: cached accessors, sidebar, i18n and error handling for pages."""
