from extract.cli import entry_point

entry_point()
