"""Views of the assessment document: every output format reads the same dictionary."""
