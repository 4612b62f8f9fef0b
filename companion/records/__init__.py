"""Records of full training runs, shipped with the package (read them with
`companion.results.published_record`). They are data, not code: nothing to import here."""
