"""The notifier's I/O: storage, templates on disk, SMTP delivery and the local mailbox."""
