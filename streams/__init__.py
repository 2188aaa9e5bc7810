"""The stream side of fairwatch: Faust app, configuration, topics, time, dead-letter, broker, CLI."""
