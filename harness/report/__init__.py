"""Reports: terminal tables and JSON, the Markdown and HTML pages, run
records and the step-by-step trace printer."""
