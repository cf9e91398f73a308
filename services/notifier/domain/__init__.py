"""The notifier's rules without I/O: kinds, languages, template lookup, retry, privacy."""
