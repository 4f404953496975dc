"""CLM Lens core: data layer, analytics, figure builders and CLI. No Streamlit in here."""

__all__ = ["__version__"]
__version__ = "0.1.0"
