"""``fairwatch bench``: fairwatch against a raw consumer, bare Faust and Quix Streams, in one run (issue 8)."""
